# test_deadlock.rb - Ruby's deadlock detector fires under the profiler exactly
# as without it: a program whose threads all block on each other gets the
# fatal "No live threads left. Deadlock?" in its main thread instead of
# hanging (the helper thread parks in a wait Ruby counts; gem/ext/stacksight/park.c).
require_relative "support"

class TestDeadlock < Minitest::Test
  include Support

  # Each program computes first (so the helper is busy resolving stacks when
  # the deadlock begins), then deadlocks, rescues the fatal error in the main
  # thread and prints what Ruby raised.
  WARMUP = "x = 0; t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC); " \
           "x += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 0.3\n"
  CASES = {
    "mutex" => "m = Mutex.new; m.lock; t = Thread.new { m.lock }; t.join",
    "queue" => "q = Queue.new; t = Thread.new { q.pop }; t.join",
    "condition variable" => "m = Mutex.new; cv = ConditionVariable.new; " \
                            "t = Thread.new { m.synchronize { cv.wait(m) } }; t.join",
    "monitor" => "require 'monitor'; mon = Monitor.new; c = mon.new_cond; " \
                 "t = Thread.new { mon.synchronize { c.wait } }; t.join",
    "join of each other" => "q = Queue.new; a = Thread.new { q.pop.join }; b = Thread.new { a.join }; q << b; b.join",
    "main thread alone" => "Queue.new.pop",
  }.freeze

  def program(body, profiled)
    start = profiled ? "require 'stacksight'\nStacksight.start\n" : ""
    "#{start}#{WARMUP}begin\n#{body}\nrescue Exception => e\nputs e.class, e.message.lines.first\nend\n"
  end

  CASES.each do |name, body|
    define_method("test_#{name.tr(' ', '_')}_deadlock_is_fatal_as_without_the_profiler") do
      plain, = run_ruby(program(body, false), timeout: 30)
      assert_match(/\Afatal\nNo live threads left\. Deadlock\?/, plain, "without the profiler")
      Dir.mktmpdir do |dir|
        env = { "DD_PROFILING_OUTPUT_PPROF" => File.join(dir, "p"), "DD_PROFILING_UPLOAD_PERIOD" => "30",
                "DD_PROFILING_LOCK_ENABLED" => "true", "DD_PROFILING_CAPTURE_PCT" => "100" }
        profiled, err, status = run_ruby(program(body, true), env: env, timeout: 30)
        assert status.success?, err
        assert_equal plain, profiled, err
        # The profile of the run before the deadlock was still written (the
        # warm-up's CPU on the main script; wall-clock bound, so any amount).
        busy = samples(File.join(dir, "p")).select { |s| s.stack.last == "<main>" }
        assert_operator sum(busy, "cpu-time"), :>, 0
      end
    end
  end
end
