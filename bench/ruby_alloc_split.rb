# ruby_alloc_split.rb - how well the allocation profile splits a known 4:1
# workload on the Ruby running this script (issue #12: 4:1 measured up to
# 6.6:1 on Ruby 3.4).
#
#   ruby -I gem/lib bench/ruby_alloc_split.rb [RUNS]
#
# Each run: a child keeps a third of what two methods allocate (four(N),
# one(N/4), 8 rounds of N = 1e6 objects, cleared between rounds) at one
# sample in ten (DD_PROFILING_HEAP_SAMPLE_SIZE=400) with the heap profile on,
# so more sampled objects are live or unswept than the heap table holds.
# Prints the measured split, the samples lost, and the GC's heap size for the
# same program without the profiler (dead sampled objects stay in the table
# until swept: a larger heap between GCs keeps more of them).
$LOAD_PATH.unshift(File.expand_path("../tests/ruby", __dir__))
require "pprof_decoder"
require "tmpdir"
require "rbconfig"

lib = File.expand_path("../gem/lib", __dir__)
work = <<~RUBY
  $k = []
  def four(n); n.times { |i| $k << Object.new if i % 3 == 0; Object.new }; end
  def one(n); n.times { |i| $k << Object.new if i % 3 == 0; Object.new }; end
  require 'stacksight' if ENV["PROFILE"]
  Stacksight.start if ENV["PROFILE"]
  8.times { four(1_000_000); one(250_000); $k.clear }
  if ENV["PROFILE"]
    st = Stacksight::Native.stats
    puts [st[:allocation_samples_dropped], st[:heap_samples_untracked].to_i].inspect
    Stacksight.stop
  else
    puts GC.stat.values_at(:count, :heap_available_slots).inspect
  end
RUBY

Dir.mktmpdir do |d|
  File.write("#{d}/w.rb", work)
  gc_count, slots = eval(IO.popen([RbConfig.ruby, "#{d}/w.rb"], &:read))
  puts "Ruby #{RUBY_VERSION}: without the profiler #{gc_count} GCs, #{slots} heap slots at the end"
  (ARGV[0] || 3).to_i.times do |run|
    prefix = "#{d}/p#{run}"
    env = { "PROFILE" => "1", "DD_PROFILING_OUTPUT_PPROF" => prefix, "DD_PROFILING_UPLOAD_PERIOD" => "60",
            "DD_PROFILING_HEAP_SAMPLE_SIZE" => "400", "DD_PROFILING_ALLOCATION_ENABLED" => "true",
            "DD_PROFILING_HEAP_ENABLED" => "true" }
    dropped, untracked = eval(IO.popen(env, [RbConfig.ruby, "-I", lib, "#{d}/w.rb"], err: File::NULL, &:read))
    by = Hash.new(0)
    Dir["#{prefix}.*.pprof"].each do |f|
      PprofDecoder.read(f).each do |s|
        v = s.values["alloc-samples"].to_i
        next if v <= 0
        owner = s.stack.find { |x| x == "Object#four" || x == "Object#one" }
        by[owner] += v if owner
      end
    end
    printf("  run %d: four %d (true 10666672), one %d (true 2666672), split %.2f:1; samples dropped %d, left out of heap-live %d\n",
           run + 1, by["Object#four"], by["Object#one"], by["Object#four"].to_f / by["Object#one"], dropped, untracked)
  end
end
