# ruby_profile_types.rb - cost of the exception, lock and allocation profiles.
#
#   ruby -I gem/lib bench/ruby_profile_types.rb [seconds-per-case]
#
# Each workload runs in a fresh process three ways: without stacksight, with
# stacksight and every profile type on (default sampling), and with only CPU
# and wall. Reported: ns per operation (best of 3 runs) and the slowdown.
# "raise" is a loop of raise/rescue; at its speed it is far above 100 000
# raises per second, so "raise_100k" paces it at 100 000 per second and
# reports the CPU time the process used per second (what the app pays).
require "rbconfig"
require "json"
require "tmpdir"

SECONDS = Float(ARGV[0] || 1.0)
LIB = File.expand_path("../gem/lib", __dir__)

WORKLOADS = {
  "raise" => "begin; raise ArgumentError, 'x'; rescue ArgumentError; end",
  "mutex_synchronize" => "M.synchronize { }",
  "mutex_lock_unlock" => "M.lock; M.unlock",
  "monitor_synchronize" => "MON.synchronize { }",
  "allocate_object" => "Object.new",
  "allocate_string" => "String.new('abcdefgh')",
}

CHILD = <<~'RUBY'
  require "monitor"
  require "json"
  mode, name, body, secs = ARGV[0], ARGV[1], ARGV[2], Float(ARGV[3])
  if mode != "off"
    require "stacksight"
    off = { exception_enabled: false, lock_enabled: false, allocation_enabled: false, heap_enabled: false }
    opts = { "cpu" => off, "exc" => off.merge(exception_enabled: true) }.fetch(mode, {})
    Stacksight.start(**opts) or abort "not started"
  end
  M = Mutex.new
  MON = Monitor.new
  clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
  cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
  if name == "raise_100k"
    # 100 000 raises per second in batches of 1 000 every 10 ms.
    c0, t0 = cpu.(), clock.()
    n = 0
    while clock.() - t0 < secs
      1000.times { begin; raise ArgumentError, "x"; rescue ArgumentError; end }
      n += 1000
      nxt = t0 + n / 100_000.0
      d = nxt - clock.()
      sleep d if d > 0
    end
    el = clock.() - t0
    puts JSON.dump(cpu_per_s: (cpu.() - c0) / el, rate: n / el)
  else
    eval <<~CODE
      def op_loop(n); i = 0; while i < n; #{body}; i += 1; end; end
    CODE
    op_loop(20_000)
    n = 50_000
    t0 = clock.()
    loop { op_loop(n); break if clock.() - t0 > 0.1; n *= 2 }
    per = (clock.() - t0) / n
    iters = (secs / per).to_i
    t0 = clock.()
    op_loop(iters)
    puts JSON.dump(ns: (clock.() - t0) / iters * 1e9)
  end
  Stacksight.stop if mode != "off"
RUBY

def run(mode, name, body)
  env = ENV.to_h.reject { |k, _| k.start_with?("DD_", "STACKSIGHT_") }
  env["DD_PROFILING_OUTPUT_PPROF"] = File.join(Dir.tmpdir, "stacksight-bench")   # no agent needed
  out = IO.popen(env, [RbConfig.ruby, "-I", LIB, "-e", CHILD, mode, name, body.to_s, SECONDS.to_s], err: File::NULL, &:read)
  JSON.parse(out.lines.last || "{}")
end

puts format("%-22s %12s %12s %12s %9s", "workload", "off ns/op", "cpu+wall", "all types", "overhead")
WORKLOADS.each do |name, body|
  next if ENV["ONLY_RAISE_100K"]
  r = %w[off cpu all].to_h { |m| [m, Array.new(3) { run(m, name, body)["ns"] }.compact.min] }
  puts format("%-22s %12.1f %12.1f %12.1f %8.1f%%", name, r["off"], r["cpu"], r["all"], (r["all"] / r["off"] - 1) * 100)
end
r = %w[off cpu exc all].to_h { |m| [m, Array.new(3) { run(m, "raise_100k", nil)["cpu_per_s"] }.min] }
puts format("raise_100k: CPU s per s: off %.3f, cpu+wall %.3f, +exceptions %.3f, all types %.3f; " \
            "exception profile alone %+.2f %% of a core", r["off"], r["cpu"], r["exc"], r["all"], (r["exc"] - r["cpu"]) * 100)
