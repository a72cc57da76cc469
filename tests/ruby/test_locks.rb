# test_locks.rb - lock profiles for Thread::Mutex, Monitor and condition
# variables: wait and hold against the truth, names from the creation site,
# unchanged semantics, the switch.
require_relative "support"

class TestLocks < Minitest::Test
  include Support

  LINE0 = 2   # lines run_profiled puts before the test's code

  def run_profiled(code, env = {})
    Dir.mktmpdir do |dir|
      prefix = File.join(dir, "p")
      full = "require 'stacksight'\nStacksight.start\n#{code}\nStacksight.stop\n"
      out, = assert_ok(run_ruby(full, env: { "DD_PROFILING_OUTPUT_PPROF" => prefix, "DD_PROFILING_UPLOAD_PERIOD" => "0.5" }.merge(env)))
      return [samples(prefix), out]
    end
  end

  def totals(samples, name)
    mine = samples.select { |s| s.labels["lock name"] == name }
    %w[lock-acquire lock-acquire-wait lock-release lock-release-hold].to_h { |t| [t, sum(mine, t)] }
  end

  # Two threads take turns on one mutex, each holding it 50 ms, `rounds` times.
  CONTENTION = <<~RUBY
    $cache_lock = Mutex.new
    clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
    workers = 2.times.map do
      Thread.new do
        wait = hold = 0.0
        4.times do
          t0 = clock.()
          $cache_lock.synchronize { t1 = clock.(); wait += t1 - t0; sleep 0.05; hold += clock.() - t1 }
        end
        [wait, hold]
      end
    end
    puts workers.map(&:value).transpose.map(&:sum).inspect   # true [wait, hold]
  RUBY

  def test_mutex_wait_and_hold_every_acquisition
    s, out = run_profiled(CONTENTION, "DD_PROFILING_CAPTURE_PCT" => "100")
    wait, hold = eval(out)
    names = s.map { |x| x.labels["lock name"] }.compact.uniq
    name = names.find { |n| n.end_with?("script.rb:#{LINE0 + 1}:$cache_lock") }
    assert name, names.inspect
    t = totals(s, name)
    assert_equal 8, t["lock-acquire"]
    assert_equal 8, t["lock-release"]
    # Truth measured by the script itself around each acquisition and hold.
    assert_operator wait, :>, 0.1
    assert_in_delta hold, t["lock-release-hold"] / 1e9, hold * 0.15, [t, wait, hold].inspect
    assert_in_delta wait, t["lock-acquire-wait"] / 1e9, wait * 0.15, [t, wait, hold].inspect
  end

  # Every profile type, on a lock-heavy program: no frame of the profiler's
  # own (the Mutex and Monitor wrappers) in any stack.
  def test_the_profilers_own_frames_are_in_no_stack
    code = <<~RUBY
      require "monitor"
      $m = Mutex.new
      $mon = Monitor.new
      def work = 200.times { |i| $m.synchronize { $mon.synchronize { "x" * (i % 50) } } }
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      ts = 3.times.map { Thread.new { work while Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 1.0 } }
      ts.each(&:join)
    RUBY
    s, = run_profiled(code, "DD_PROFILING_CAPTURE_PCT" => "100", "DD_PROFILING_ALLOCATION_ENABLED" => "true")
    %w[cpu-time wall-time lock-acquire lock-release alloc-samples].each do |type|
      assert s.any? { |x| x.values.fetch(type, 0) > 0 && x.stack.include?("Object#work") }, "no #{type} in Object#work"
    end
    own = s.flat_map(&:stack).uniq.grep(/(\A| in )Stacksight[:.#]/)
    assert_empty own, "the profiler's own frames in the profile"
  end

  def test_mutex_sampled_scales_to_the_truth
    code = <<~RUBY
      $m = Mutex.new
      20_000.times { $m.synchronize { } }
      4_000.times { $m.lock; $m.unlock }
    RUBY
    s, = run_profiled(code, "DD_PROFILING_CAPTURE_PCT" => "10")
    t = totals(s, s.map { |x| x.labels["lock name"] }.compact.find { |n| n.end_with?("script.rb:#{LINE0 + 1}:$m") })
    assert_in_delta 24_000, t["lock-acquire"], 24_000 * 0.25, t.inspect
    assert_in_delta t["lock-acquire"], t["lock-release"], t["lock-acquire"] * 0.1, t.inspect
  end

  def test_monitor_and_condition_variables_keep_working
    code = <<~RUBY
      class Buffer
        include MonitorMixin
        def initialize; super(); @items = []; @ready = new_cond; end
        def put(x); synchronize { @items << x; @ready.signal }; end
        def take; synchronize { @ready.wait_while { @items.empty? }; @items.shift }; end
      end
      buf = Buffer.new
      consumer = Thread.new { Array.new(200) { buf.take } }
      200.times { |i| buf.put(i); sleep 0.0005 if i % 50 == 0 }
      got = consumer.value
      raise "lost items" unless got == (0...200).to_a
      mon = Monitor.new
      mon.synchronize { mon.synchronize { mon.enter; mon.exit } }
      raise "reentrancy" unless mon.mon_locked? == false
      m = Mutex.new; cv = ConditionVariable.new; ready = false
      waiter = Thread.new { m.synchronize { cv.wait(m) until ready; :woken } }
      sleep 0.05
      m.synchronize { ready = true; cv.signal }
      raise "cv" unless waiter.value == :woken
      puts "ok"
    RUBY
    s, out = run_profiled(code, "DD_PROFILING_CAPTURE_PCT" => "100")
    assert_equal "ok", out.strip
    names = s.map { |x| x.labels["lock name"] }.compact.uniq
    assert_includes names.map { |n| n[/script\.rb:.*/] }, "script.rb:#{LINE0 + 3}", names.inspect   # made by super()
    cv_wait = totals(s, names.find { |n| n.end_with?(":m") })["lock-acquire-wait"]
    assert_operator cv_wait, :>=, 40_000_000   # the ConditionVariable#wait of ~50 ms
  end

  def test_mutex_semantics_unchanged
    code = <<~RUBY
      m = Mutex.new
      out = []
      m.lock
      begin; m.lock; rescue ThreadError => e; out << e.message; end
      out << m.owned? << m.locked? << m.try_lock
      m.unlock
      begin; m.unlock; rescue ThreadError => e; out << e.message; end
      begin; m.synchronize; rescue ThreadError => e; out << e.message; end
      out << m.synchronize { 42 }
      out << m.sleep(0.01).class
      t = Thread.new { m.lock; sleep }
      sleep 0.05
      begin; m.unlock; rescue ThreadError => e; out << e.message; end
      t.kill; t.join
      out << Thread::Mutex.ancestors.first(2).map(&:to_s)
      puts out.inspect
    RUBY
    expected, = assert_ok(run_ruby("#{code.sub('out << m.sleep(0.01).class', 'm.lock; out << m.sleep(0.01).class; m.unlock')}"))
    s, got = run_profiled(code.sub("out << m.sleep(0.01).class", "m.lock; out << m.sleep(0.01).class; m.unlock"),
                          "DD_PROFILING_CAPTURE_PCT" => "100")
    exp = eval(expected); act = eval(got)
    assert_equal exp[0..-2], act[0..-2]
    assert_match(/deadlock; recursive locking/, act[0])
    assert_equal ["Stacksight::MutexTracking", "Thread::Mutex"], act[-1]
  end

  # Ruby finds a deadlock only when every thread sleeps forever; the Mutex
  # wrappers must keep that (with every acquisition recorded), the parked
  # helper too (test_deadlock.rb covers every kind of wait).
  def test_deadlock_detection_message_unchanged
    code = "m = Mutex.new\nm.lock\nt = Thread.new { m.lock }\nbegin; t.join; rescue Exception => e; puts e.class, e.message.lines.first; end\n"
    plain, = run_ruby(code)
    s, prof = run_profiled(code, "DD_PROFILING_CAPTURE_PCT" => "100")
    assert_equal plain, prof
    assert_match(/fatal/, prof)
  end

  def test_switched_off
    s, = run_profiled(CONTENTION, "DD_PROFILING_LOCK_ENABLED" => "false", "DD_PROFILING_CAPTURE_PCT" => "100")
    refute s.empty?
    refute s.any? { |x| x.values.key?("lock-acquire") || x.labels.key?("lock name") }
  end
end
