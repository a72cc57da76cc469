# test_signal_takeover.rb - an application that takes SIGPROF with
# trap('PROF') and then restores the default action must not be killed by the
# profiler's CPU timers or capture requests, and must not keep receiving them.
require_relative "support"

class TestSignalTakeover < Minitest::Test
  include Support

  def test_trap_prof_then_default_neither_kills_nor_receives_our_signals
    code = <<~RUBY
      require "stacksight"
      def burn(seconds)
        c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
        x = 0
        x += 1 while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0 < seconds
      end
      def after_restore = burn(0.6)
      Stacksight.start
      sleeper = Thread.new { sleep 1.5 }   # a blocked thread: capture requests
      burn(0.3)
      received = 0
      trap("PROF") { received += 1 }
      burn(0.3)
      trap("PROF", "SYSTEM_DEFAULT")
      sleep 0.05
      after_restore
      sleeper.join
      Stacksight.stop
      puts received
    RUBY
    Dir.mktmpdir do |dir|
      prefix = File.join(dir, "p")
      out, err, = assert_ok(run_ruby(code, env: { "DD_PROFILING_OUTPUT_PPROF" => prefix }))
      assert_operator Integer(out.lines.last), :<=, 5, "the application's handler got our signals"
      assert_equal 1, err.scan("replaced the SIGPROF handler").size, err
      all = samples(prefix)
      cpu = ->(pred) { all.select(&pred).sum { |s| s.values.fetch("cpu-time", 0) } }
      total = cpu.(->(_) { true })
      taken = cpu.(->(s) { s.stack.include?("[stack unknown: the application took SIGPROF]") })
      # 1.2 s burned in all; once SIGPROF is taken no stack can be captured,
      # so the time after it keeps its total under a frame that says so.
      assert_in_delta 1.2e9, total, 0.3e9, "CPU in the profile"
      assert_in_delta 0.6e9, taken, 0.35e9, "CPU after the application took SIGPROF"
      assert_operator cpu.(->(s) { s.stack.include?("Object#burn") }), :>=, 0.2e9
    end
  end
end
