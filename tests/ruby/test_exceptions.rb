# test_exceptions.rb - the Thrown Exceptions profile: sampled counts in the
# right ratio with the right class labels, the switch, and a raise storm.
require_relative "support"

class TestExceptions < Minitest::Test
  include Support

  RAISERS = <<~RUBY
    module App; class Timeout < StandardError; end; end
    def raise_many(n); n.times { begin; raise ArgumentError, "x"; rescue ArgumentError; end }; end
    def raise_few(n); n.times { begin; raise App::Timeout; rescue App::Timeout; end }; end
    raise_many(10_000)
    raise_few(2_000)
  RUBY

  # Burns 0.3 s of this thread's CPU, so the profile has CPU samples even
  # when the raisers themselves take only milliseconds.
  SPIN = <<~RUBY
    c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
    x = 0
    x += 1 while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0 < 0.3
  RUBY

  def profile(env, extra = "")
    Dir.mktmpdir do |dir|
      prefix = File.join(dir, "p")
      code = "require 'stacksight'\nStacksight.start\n#{RAISERS}\n#{extra}\nStacksight.stop\n"
      assert_ok(run_ruby(code, env: { "DD_PROFILING_OUTPUT_PPROF" => prefix, "DD_PROFILING_UPLOAD_PERIOD" => "0.5" }.merge(env)))
      return samples(prefix)
    end
  end

  def by_type(samples)
    samples.each_with_object(Hash.new(0)) do |s, h|
      v = s.values.fetch("exception-samples", 0)
      h[s.labels["exception type"]] += v if v > 0
    end
  end

  def test_counts_ratio_and_labels
    # Mean interval 5: ~2400 samples, the 2 000 raiser gets ~400 (3.6 sigma at 20 %).
    counts = by_type(profile("STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL" => "5"))
    assert_equal %w[App::Timeout ArgumentError], counts.keys.sort
    ratio = counts["ArgumentError"].to_f / counts["App::Timeout"]
    assert_in_delta 5.0, ratio, 1.0, counts.inspect
    assert_in_delta 12_000, counts.values.sum, 12_000 * 0.15, counts.inspect
  end

  def test_default_sampling_estimates_the_total
    s = profile({})
    counts = by_type(s)
    # ~600 samples at the default 1 in 20: sd about 4 %; 20 % is 5 sd.
    assert_in_delta 12_000, counts.values.sum, 12_000 * 0.20, counts.inspect
    leaf = s.find { |x| x.labels["exception type"] == "ArgumentError" }.stack
    assert_includes leaf.first(3), "Object#raise_many"
  end

  def test_switched_off
    s = profile({ "DD_PROFILING_EXCEPTION_ENABLED" => "false" }, SPIN)
    refute s.empty?
    assert_operator sum(s, "cpu-time"), :>, 0
    assert_equal 0, sum(s, "exception-samples")
    refute s.any? { |x| x.values.key?("exception-samples") }
  end
end
