# test_runtimes.rb - interpreter modes the profiler must survive on every
# Ruby under test: YJIT switches, the M:N thread scheduler (Ruby 3.3+,
# refused with a warning) and Ractors (main Ractor profiled, a warning says
# the others are not). The application's own results never change.
require_relative "support"

class TestRuntimes < Minitest::Test
  include Support

  # 1.5 s of this thread's CPU, split 5:2 between two methods.
  SPLIT = <<~RUBY
    require "stacksight"
    def spin(n) = n.times { |i| i * i }
    def fifty = spin(2_500_000)
    def twenty = spin(1_000_000)
    started = Stacksight.start
    c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0 < 1.5 &&
          Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 20
      fifty; twenty
    end
    Stacksight.stop
    jit = defined?(RubyVM::YJIT) && RubyVM::YJIT.enabled?
    puts [started, jit ? "yjit" : "interpreter", spin(3)].inspect
  RUBY

  def profile(code, env: {}, args: [])
    Dir.mktmpdir do |dir|
      prefix = File.join(dir, "p")
      out, err, status = run_ruby(code, env: { "DD_PROFILING_OUTPUT_PPROF" => prefix, "DD_PROFILING_UPLOAD_PERIOD" => "30" }.merge(env),
                                        args: args, timeout: 60)
      assert status.success?, "child failed: #{err}"
      return [samples(prefix), out, err]
    end
  end

  def run_ruby_flags(code, flags, env)
    Dir.mktmpdir do |dir|
      script = File.join(dir, "script.rb")
      File.write(script, code)
      prefix = File.join(dir, "p")
      out, err, status = run_cmd([RbConfig.ruby, *flags, "-I", LIB, script],
                                 env: { "DD_PROFILING_OUTPUT_PPROF" => prefix, "DD_PROFILING_UPLOAD_PERIOD" => "30" }.merge(env),
                                 timeout: 60)
      assert status.success?, "child failed: #{err}"
      return [samples(prefix), out, err]
    end
  end

  def assert_split(samples)
    by = Hash.new(0)
    samples.each do |s|
      owner = s.stack.find { |f| f == "Object#fifty" || f == "Object#twenty" }
      by[owner] += s.values["cpu-time"] if owner
    end
    total = by.values.sum.to_f
    assert_operator total, :>, 0.5e9, by.inspect
    assert_in_delta 5.0 / 7 * 100, 100 * by["Object#fifty"] / total, 7, by.inspect
  end

  # Debian's Rubies are built without YJIT: --yjit then only makes Ruby warn,
  # and the profile must be what it is without the switch. A Ruby with YJIT
  # on is refused (untested here: nothing reads its frames from a signal
  # handler yet), and the program's result is the same.
  [["--yjit"], []].each do |flags|
    name = flags.empty? ? "RUBY_YJIT_ENABLE" : "yjit_flag"
    define_method("test_#{name}_profiles_or_refuses_and_the_program_is_unchanged") do
      env = flags.empty? ? { "RUBY_YJIT_ENABLE" => "1" } : {}
      s, out, err = run_ruby_flags(SPLIT, flags, env)
      started, mode, size = eval(out.lines.last)
      assert_equal 3, size
      if mode == "yjit"
        refute started
        assert_match(/not profiling: YJIT is enabled/, err)
        assert_empty s
      else
        assert started, err
        assert_split(s)
      end
    end
  end

  def test_mn_threads_are_refused_with_a_warning_and_the_program_runs
    code = <<~RUBY
      require "stacksight"
      p Stacksight.start
      p 8.times.map { |k| Thread.new { (1..50_000).sum + k } }.map(&:value).sum
    RUBY
    s, out, err = profile(code, env: { "RUBY_MN_THREADS" => "1" })
    assert_equal 8 * 1_250_025_000 + 28, Integer(out.lines.last)
    if Gem::Version.new(RUBY_VERSION) >= Gem::Version.new("3.3")
      assert_equal "false", out.lines.first.strip
      assert_match(/not profiling: RUBY_MN_THREADS is on/, err)
      assert_empty s
    else
      assert_equal "true", out.lines.first.strip, err   # Ruby < 3.3 has no M:N scheduler
    end
    # Off (0) is the default scheduler: profiled.
    _, out, err = profile(code, env: { "RUBY_MN_THREADS" => "0" })
    assert_equal "true", out.lines.first.strip, err
  end

  def test_ractors_run_unchanged_and_the_main_ractor_is_profiled
    code = <<~RUBY
      require "stacksight"
      Stacksight.start
      Warning[:experimental] = false
      def fifty = (x = 0; 2_500_000.times { |i| x += i }; x)
      def twenty = (x = 0; 1_000_000.times { |i| x += i }; x)
      def strings = Array.new(1000) { |i| "m\#{i}" }
      r = Ractor.new do
        m = Mutex.new
        sum = 0
        200.times { |i| m.synchronize { sum += Array.new(100) { |j| "s\#{j}" }.size } }
        begin
          raise ArgumentError, "inside"
        rescue => e
          Ractor.receive   # alive until the main Ractor has computed
          [sum, e.message]
        end
      end
      c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0 < 1.5 &&
            Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 20
        fifty; twenty; strings
      end
      r.send(:done)
      p(r.respond_to?(:value) ? r.value : r.take)
      Stacksight.stop
    RUBY
    s, out, err = profile(code, env: { "DD_PROFILING_ALLOCATION_ENABLED" => "true", "DD_PROFILING_HEAP_ENABLED" => "true",
                                       "DD_PROFILING_CAPTURE_PCT" => "100", "DD_PROFILING_HEAP_SAMPLE_SIZE" => "400" })
    assert_equal [20_000, "inside"], eval(out.lines.last)
    assert_match(/only the main Ractor is profiled/, err)
    assert_split(s)
    crashing, = run_ruby("require 'stacksight'; p Stacksight::Hooks::NEWOBJ_RACTOR_CRASH")
    if crashing.strip == "true"
      assert_match(/allocation profile is switched off: Ractors are used/, err)
    else
      strings = s.select { |x| x.labels["class name"] == "String" && x.stack.include?("Object#strings") }
      assert_operator sum(strings, "alloc-samples"), :>, 0, "the main Ractor's allocations are sampled"
    end
  end
end
