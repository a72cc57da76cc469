# ruby_overhead.rb - slowdown of a CPU-bound Ruby workload under stacksight
# and under stackprof, both sampling at 100 Hz (CPU mode), against no
# profiler. Runs are interleaved (none, stacksight, stackprof, ...) in fresh
# processes so machine noise hits all three alike; medians are compared.
#
#   ruby -I gem/lib bench/ruby_overhead.rb [rounds]   (or: rake bench)
require "rbconfig"
require "tmpdir"

ROUNDS = Integer(ARGV[0] || 7)
LIB = File.expand_path("../gem/lib", __dir__)

WORKLOAD = <<~'RUBY'
  def fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2)
  def strings = 2_000.times.map { |i| "item-#{i}" }.sort.join(",").size
  def hashes = (1..5_000).each_with_object({}) { |i, h| h[i] = i.to_s }.size
  def run = 30.times { fib(20); strings; hashes }
  run # warm up
  t0 = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
  8.times { run }
  puts Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - t0
RUBY

MODES = {
  "none" => "",
  "stacksight" => "require 'stacksight'; Stacksight::Profiler.new(sample_hz: 100, output_pprof: ENV['OUT']).start\n",
  "stackprof" => "require 'stackprof'; StackProf.start(mode: :cpu, interval: 10_000, raw: true)\n",
}.freeze

def measure(mode, dir)
  code = MODES.fetch(mode) + WORKLOAD
  env = { "OUT" => File.join(dir, "bench"), "DD_PROFILING_UPLOAD_PERIOD" => "60" }
  out = IO.popen(env, [RbConfig.ruby, "-I", LIB, "-e", code], &:read)
  raise "#{mode} run failed" unless $?.success?
  Float(out.lines.last)
end

def median(xs) = xs.sort[xs.size / 2]

Dir.mktmpdir do |dir|
  times = Hash.new { |h, k| h[k] = [] }
  ROUNDS.times do
    MODES.each_key { |m| times[m] << measure(m, dir) }
  end
  base = median(times["none"])
  puts format("CPU time of the whole process (profiler threads included), median of %d interleaved runs (100 Hz):", ROUNDS)
  times.each do |mode, ts|
    puts format("  %-11s %.3f s  (x%.3f vs none)", mode, median(ts), median(ts) / base)
  end
  puts format("  stacksight / stackprof: %.3f", median(times["stacksight"]) / median(times["stackprof"]))
end
