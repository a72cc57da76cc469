# reliability_test_stress.rb - the Ruby side of the reliability suite (issue #8):
# thread churn at 1 kHz and a fork storm, the two stress cases that hurt
# users of Ruby profilers (crashes in Thread.new, children that hang or never
# report after fork). Named reliability_* so `rake test` (test_*.rb) does not
# pick it up; run by `make test-reliability-ruby`. Sizes: RELIABILITY_CI=1
# runs the same full sizes unless RELIABILITY_RUBY_THREADS / _FORKS say less.
require_relative "support"

class ReliabilityStressTest < Minitest::Test
  include Support

  THREADS = Integer(ENV.fetch("RELIABILITY_RUBY_THREADS", 20_000))
  FORKS = Integer(ENV.fetch("RELIABILITY_RUBY_FORKS", 200))

  def setup
    @dir = Dir.mktmpdir("stacksight-rel")
    @prefix = File.join(@dir, "p")
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def test_thread_churn_at_1khz_keeps_rss_flat
    code = <<~RUBY
      require "stacksight"
      def rss_kb = File.read("/proc/self/statm").split[1].to_i * 4
      def depth(n) = n.zero? ? (1..2000).sum : depth(n - 1)
      Stacksight::Profiler.new(service: "churn").start
      churn = ->(count, base) do
        made = 0
        while made < count
          50.times.map { |i| Thread.new { Thread.current.name = "worker-\#{base + made + i}"; depth(6) } }.each(&:join)
          made += 50
        end
        made
      end
      churn.(500, 10_000_000)
      GC.start; sleep 0.3
      base = rss_kb
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      made = churn.(#{THREADS}, 0)
      elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
      GC.start; sleep 0.5
      after = rss_kb
      Stacksight.stop
      puts [base, after, made, elapsed, Thread.list.size].join(" ")
    RUBY
    out, = assert_ok(run_ruby(code, timeout: 600, env: { "STACKSIGHT_SAMPLE_HZ" => 1000,
                                                         "DD_PROFILING_OUTPUT_PPROF" => @prefix,
                                                         "DD_PROFILING_UPLOAD_PERIOD" => 2 }))
    base, after, made, elapsed, alive = out.split.map(&:to_f)
    warn format("\nruby churn: %d threads in %.1f s, RSS %d -> %d kB (%+d kB)", made, elapsed, base, after, after - base)
    assert_operator made, :>=, THREADS
    assert_equal 1, alive.to_i
    assert_operator after - base, :<, 5 * 1024
  end

  def test_fork_storm_children_upload_and_never_hang
    code = <<~RUBY
      require "stacksight"
      Stacksight::Profiler.new(service: "forks").start
      burn = ->(s) { t0 = Time.now; (1..3000).sum while Time.now - t0 < s; }
      expect, hung = [], []
      (0...#{FORKS}).each_slice(20) do |batch|
        pids = batch.map do |i|
          pid = fork do
            exit!(0) if i % 4 == 0            # gone at once: must not hang
            burn.(0.5)
            Stacksight.stop if i % 4 == 1
            exit!(0) if i % 4 == 2            # no at_exit: periodic uploads only
          end
          expect << pid unless i % 4 == 0
          pid
        end
        deadline = Time.now + 20
        pids.each do |pid|
          loop do
            break if Process.wait(pid, Process::WNOHANG)
            if Time.now > deadline
              Process.kill(:KILL, pid); Process.wait(pid); hung << pid; break
            end
            sleep 0.01
          end
        end
      end
      Stacksight.stop
      puts({ "expect" => expect, "hung" => hung }.to_json)
    RUBY
    out, = assert_ok(run_ruby("require 'json'\n" + code, timeout: 600,
                              env: { "DD_PROFILING_OUTPUT_PPROF" => @prefix, "DD_PROFILING_UPLOAD_PERIOD" => 0.2 }))
    res = JSON.parse(out.lines.last)
    assert_empty res["hung"]
    have = Dir["#{@prefix}.*.pprof"].map { |f| Integer(f[/\.(\d+)\.\d+\.pprof\z/, 1]) }.uniq
    missing = res["expect"] - have
    warn "\nruby forks: #{FORKS} children, #{res['expect'].size} expected to write a profile, #{missing.size} did not"
    assert_empty missing
  end
end
