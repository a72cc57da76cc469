# test_sampling.rb - what the sampler measures: CPU split, wall of blocked
# threads, thread churn at 1 kHz, and system calls left unbroken.
require_relative "support"

class TestSampling < Minitest::Test
  include Support

  def setup
    @dir = Dir.mktmpdir("stacksight-test")
    @prefix = File.join(@dir, "p")
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  # Ruby 3.3's rb_profile_frame_full_label names the module function
  # Kernel#sleep "Kernel.sleep" (3.1 and 3.4: "Kernel#sleep").
  SLEEP_FRAMES = ["Kernel#sleep", "Kernel.sleep"].freeze

  def env(extra = {})
    { "DD_PROFILING_OUTPUT_PPROF" => @prefix, "DD_PROFILING_UPLOAD_PERIOD" => "1" }.merge(extra)
  end

  # First frame of the stack that is one of `names`.
  def owner(sample, names)
    sample.stack.find { |f| names.include?(f) }
  end

  def test_cpu_split_50_30_20_on_main_thread
    code = <<~RUBY
      require "stacksight"
      def spin(n) = n.times { |i| i * i }
      # Each call lasts ~10 sampling periods: with calls much shorter than
      # a period, a periodic loop aliases with the kernel's timer tick and
      # the split depends on the phase, not on the profiler.
      def fifty  = spin(1_250_000)
      def thirty = spin(750_000)
      def twenty = spin(500_000)
      Stacksight::Profiler.new(service: "split").start
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
      # Run for 3 s of this thread's CPU (not wall time), so a loaded or
      # sanitized run still gets ~600 CPU slices at 200 Hz.
      while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0 < 3 &&
            Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 30
        fifty; thirty; twenty
      end
      puts Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0
      Stacksight.stop
    RUBY
    out, = assert_ok(run_ruby(code, env: env.merge("STACKSIGHT_SAMPLE_HZ" => "200")))
    burned = Float(out.lines.last) * 1e9
    names = %w[Object#fifty Object#thirty Object#twenty]
    by = Hash.new(0)
    samples(@prefix).each { |s| (o = owner(s, names)) && by[o] += s.values["cpu-time"] }
    total = by.values.sum.to_f
    # The machine may be shared: compare with what the thread really burned.
    assert_in_delta 1.0, total / burned, 0.1, "profiled #{total / 1e9}s of CPU, thread burned #{burned / 1e9}s"
    shares = names.to_h { |n| [n, 100 * by[n] / total] }
    puts "\n  CPU split (expected 50/30/20): #{shares.transform_values { |v| v.round(1) }}"
    { "Object#fifty" => 50, "Object#thirty" => 30, "Object#twenty" => 20 }.each do |n, want|
      assert_in_delta want, shares[n], 5, "share of #{n}: #{shares.inspect}"
    end
  end

  def test_blocked_threads_get_wall_at_the_blocking_call_and_no_cpu
    code = <<~RUBY
      require "stacksight"
      Stacksight::Profiler.new.start
      q = Queue.new
      sleeper = Thread.new { sleep 3 }
      sleeper.name = "sleeper"
      popper = Thread.new { q.pop }
      popper.name = "popper"
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      x = 0
      x += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 2.5
      q << 1
      [sleeper, popper].each(&:join)
      Stacksight.stop
    RUBY
    assert_ok(run_ruby(code, env: env))
    all = samples(@prefix)
    sleeper = all.select { |s| s.labels["thread name"] == "sleeper" }
    popper = all.select { |s| s.labels["thread name"] == "popper" }
    main = all.select { |s| s.labels["thread name"] == "main" }
    refute_empty sleeper
    refute_empty popper
    assert_operator sum(sleeper, "wall-time"), :>, 1.5e9
    assert_operator sum(sleeper, "cpu-time"), :<, 20e6, "a sleeping thread burns (almost) no CPU"
    sleep_wall = sleeper.select { |s| SLEEP_FRAMES.include?(s.stack.first) }
    assert_operator sum(sleep_wall, "wall-time"), :>, 0.9 * sum(sleeper, "wall-time")
    pop_wall = popper.select { |s| s.stack.first == "Thread::Queue#pop" }
    assert_operator sum(pop_wall, "wall-time"), :>, 1.5e9
    assert_operator sum(popper, "cpu-time"), :<, 20e6
    assert_operator sum(main, "cpu-time"), :>, 0.2e9   # the machine may be shared
    all.each { |s| assert_equal s.labels["thread native id"].class, Integer }
  end

  def test_fifty_threads_churn_at_1khz
    code = <<~RUBY
      require "stacksight"
      require "json"
      Stacksight::Profiler.new.start
      names = {}
      workers = []
      50.times do |i|
        t = Thread.new { t0 = Time.now; x = 0; x += 1 while Time.now - t0 < 0.05; x }
        t.name = "worker-\#{i}"
        names[t.object_id] = t.name
        workers << t
        t.join if i % 10 == 9
      end
      workers.each(&:join)
      t0 = Time.now
      x = 0; x += 1 while Time.now - t0 < 0.5
      Stacksight.stop
      puts JSON.dump(names)
    RUBY
    out, = assert_ok(run_ruby(code, env: env("STACKSIGHT_SAMPLE_HZ" => 1000)))
    names = JSON.parse(out.lines.last).transform_keys(&:to_i)
    all = samples(@prefix)
    workers = all.select { |s| s.labels["thread name"].to_s.start_with?("worker-") }
    refute_empty workers
    all.each do |s|
      name = s.labels["thread name"]
      next if name.nil? || name == "main"
      # Ruby reuses native threads, so a native id may carry several names
      # over time; the Ruby thread id may not.
      assert_equal names[s.labels["thread id"]], name, "thread name label of thread id #{s.labels['thread id']}"
    end
    assert_operator workers.map { |s| s.labels["thread name"] }.uniq.size, :>=, 25
  end

  def test_syscalls_in_other_threads_survive_1khz_sampling
    code = <<~'RUBY'
      require "stacksight"
      require "socket"
      require "tempfile"
      Stacksight::Profiler.new.start
      errors = Queue.new
      stop = false
      burn = ->(s) { t0 = Time.now; x = 0; x += 1 while Time.now - t0 < s }
      file = Tempfile.new("ss"); file.write("x" * 100_000); file.flush
      q = Queue.new
      r, w = IO.pipe
      a, b = UNIXSocket.pair
      server = TCPServer.new("127.0.0.1", 0)
      client = TCPSocket.new("127.0.0.1", server.addr[1])
      peer = server.accept
      jobs = {
        sleep: -> { burn.(0.002); sleep 0.01 },
        select: -> { burn.(0.002); IO.select([r], nil, nil, 0.01) },
        queue_pop: -> { burn.(0.002); q.pop },
        file_read: -> { burn.(0.001); raise "short read" unless File.read(file.path).size == 100_000 },
        pipe_read: -> { burn.(0.002); a.read(4) == "ping" or raise "bad pipe data" },
        tcp_read: -> { burn.(0.002); client.read(4) == "pong" or raise "bad tcp data" },
      }
      threads = jobs.map do |name, job|
        Thread.new do
          until stop
            job.call
          end
        rescue Exception => e
          errors << "#{name}: #{e.class}: #{e.message}"
        end
      end
      feeder = Thread.new do
        until stop
          sleep 0.005
          q << 1
          b.write("ping")
          peer.write("pong")
        end
        6.times { q << 1; b.write("ping"); peer.write("pong") }
      end
      burn.(3)
      stop = true
      threads.each { |t| t.join(5) }
      feeder.join
      Stacksight.stop
      p Stacksight::Native.stats if ENV["VERBOSE"]
      e = []
      e << errors.pop until errors.empty?
      abort "errors: #{e.join(', ')}" unless e.empty?
      puts "ok"
    RUBY
    out, = assert_ok(run_ruby(code, env: env("STACKSIGHT_SAMPLE_HZ" => 1000)))
    assert_equal "ok", out.strip
  end

  # Threads that alternate a little CPU work and a short wait are mostly seen
  # waiting at any given instant; their CPU must still land on the work.
  def test_cpu_of_threads_alternating_work_and_sleep_goes_to_the_work
    code = <<~RUBY
      require "stacksight"
      def spin(n) = n.times { |i| i * i }
      def compute
        c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
        spin(200) while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0 < 0.001
      end
      require "json"
      Stacksight::Profiler.new(service: "alternate").start
      cpu = Queue.new
      threads = 2.times.map do |i|
        Thread.new do
          Thread.current.name = "alt-\#{i}"
          c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
          t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          while Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 3
            compute
            sleep 0.002
          end
          cpu << Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0
        end
      end
      threads.each(&:join)
      Stacksight.stop
      puts JSON.dump(Stacksight::Native.stats)
      puts cpu.pop + cpu.pop
    RUBY
    out, = assert_ok(run_ruby(code, env: env))
    stats = JSON.parse(out.lines[-2])
    burned = Float(out.lines.last) * 1e9
    alt = samples(@prefix).select { |s| s.labels["thread name"].to_s.start_with?("alt-") }
    total = sum(alt, "cpu-time").to_f
    work = sum(alt.select { |s| s.stack.include?("Object#compute") }, "cpu-time")
    asleep = sum(alt.select { |s| SLEEP_FRAMES.include?(s.stack.first) }, "cpu-time")
    puts "\n  alternating threads: #{(100 * work / total).round(1)} % of CPU on Object#compute, " \
         "#{(100 * asleep / total).round(1)} % on Kernel#sleep (profiled #{(total / 1e9).round(2)} s, " \
         "burned #{(burned / 1e9).round(2)} s)"
    assert_in_delta 1.0, total / burned, 0.15, "profiled #{total / 1e9}s of CPU, threads burned #{burned / 1e9}s"
    assert_operator work / total, :>=, 0.9, "CPU on Object#compute"
    # CPU comes from CPU-clock timers; a waiting thread is signalled only to
    # learn where it waits (each thread once here), never every tick.
    assert_operator stats["cpu_captures"], :>, 50, stats.inspect
    assert_operator stats["signals"], :<, 30, stats.inspect
  end

  # A thread that computes and then blocks for long must have its wall time
  # at the blocking call, though no CPU slice ever captured it there.
  def test_wall_of_a_thread_blocked_after_computing_goes_to_the_blocking_call
    code = <<~RUBY
      require "stacksight"
      def spin(n) = n.times { |i| i * i }
      def compute
        c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
        spin(1000) while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0 < 0.3
      end
      Stacksight::Profiler.new.start
      q = Queue.new
      t = Thread.new do
        Thread.current.name = "worker"
        compute
        q.pop
      end
      sleep 0.05 until t.status == "sleep" && t.backtrace.to_a.any? { |l| l.include?("pop") }
      sleep 2
      q << 1
      t.join
      Stacksight.stop
    RUBY
    assert_ok(run_ruby(code, env: env))
    worker = samples(@prefix).select { |s| s.labels["thread name"] == "worker" }
    pop = worker.select { |s| s.stack.first == "Thread::Queue#pop" }
    computing = worker.select { |s| s.stack.include?("Object#compute") }
    assert_operator sum(pop, "wall-time"), :>, 1.7e9, "wall at Queue#pop"
    assert_operator sum(computing, "cpu-time"), :>, 0.2e9, "CPU at Object#compute"
    assert_operator sum(pop, "cpu-time"), :<, 20e6, "a waiting thread burns (almost) no CPU"
  end
end
