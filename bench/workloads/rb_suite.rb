# Ruby workloads for the benchmark, run in one process with in-process timings.
#
# The same three shapes as the Python suite: CPU-bound (n-body), a threaded
# program (8 threads mixing CPU, sleep, a contended Mutex and loopback I/O)
# and a request-serving app (a small HTTP/1.1 keep-alive server answering
# client threads over loopback). The profiler is chosen by BENCH_RB_PROFILER:
#   none | stackprof (BENCH_STACKPROF_INTERVAL_US, :cpu mode) | stacksight (gem/lib)
# and is started before the first timed region. Prints `BENCH_RESULT {json}`.
#
#   ruby bench/workloads/rb_suite.rb SCALE cpu_nbody threads_mixed http_server
require "json"
require "socket"

module RbBench
  module_function

  def cpu_nbody(scale)
    bodies = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 39.47],
              [4.84, -1.16, -0.10, 0.606, 2.81, -0.025, 0.0377],
              [8.34, 4.12, -0.40, -1.01, 1.82, 0.008, 0.0113],
              [12.89, -15.11, -0.22, 1.08, 0.868, -0.011, 0.0017],
              [15.38, -25.92, 0.18, 0.979, 0.595, -0.035, 0.0020]]
    steps = (60_000 * scale).to_i
    steps.times { advance(bodies, 0.01) }
    { "x0" => bodies[1][0].round(6) }
  end

  def advance(bodies, dt)
    n = bodies.size
    i = 0
    while i < n
      b1 = bodies[i]
      j = i + 1
      while j < n
        b2 = bodies[j]
        dx = b1[0] - b2[0]; dy = b1[1] - b2[1]; dz = b1[2] - b2[2]
        mag = dt / ((dx * dx + dy * dy + dz * dz)**1.5)
        m1 = b1[6] * mag; m2 = b2[6] * mag
        b1[3] -= dx * m2; b1[4] -= dy * m2; b1[5] -= dz * m2
        b2[3] += dx * m1; b2[4] += dy * m1; b2[5] += dz * m1
        j += 1
      end
      i += 1
    end
    bodies.each { |b| b[0] += dt * b[3]; b[1] += dt * b[4]; b[2] += dt * b[5] }
  end

  def spin(n)
    acc = 0
    n.times { |i| acc = (acc * 31 + i) % 1_000_003 }
    acc
  end

  def threads_mixed(scale)
    rounds = (160 * scale).to_i
    server = TCPServer.new("127.0.0.1", 0)
    port = server.addr[1]
    acceptor = Thread.new do
      loop do
        conn = server.accept
        Thread.new(conn) do |c|
          while (data = c.readpartial(4096) rescue nil)
            c.write(data)
          end
          c.close
        end
      rescue IOError, Errno::EBADF
        break
      end
    end
    lock = Mutex.new
    shared = [0]
    kinds = %w[cpu cpu sleep sleep lock lock io io]
    threads = kinds.map do |kind|
      Thread.new do
        sock = kind == "io" ? TCPSocket.new("127.0.0.1", port) : nil
        payload = "x" * 1024
        rounds.times do
          case kind
          when "cpu" then spin(20_000)
          when "sleep" then sleep(0.002); spin(2_000)
          when "lock" then lock.synchronize { shared[0] += spin(3_000) }; spin(1_000)
          else
            sock.write(payload)
            got = 0
            got += sock.readpartial(4096).bytesize while got < payload.bytesize
            spin(1_000)
          end
        end
        sock&.close
      end
    end
    threads.each(&:join)
    server.close
    acceptor.join(1)
    { "threads" => threads.size }
  end

  def render(path)
    items = (0...60).map { |i| { "id" => i, "name" => "item-#{i}", "score" => (i * 7919) % 101 } }
    items.sort_by! { |it| [-it["score"], it["id"]] }
    JSON.generate({ "path" => path, "top" => items.first(20) })
  end

  def serve_conn(c)
    while (line = c.gets)
      path = line.split[1]
      while (h = c.gets) && h != "\r\n"; end
      body = render(path)
      c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: #{body.bytesize}\r\n\r\n#{body}")
    end
  rescue IOError, Errno::ECONNRESET
    nil
  ensure
    c.close
  end

  def http_server(scale)
    per_client = (700 * scale).to_i
    server = TCPServer.new("127.0.0.1", 0)
    port = server.addr[1]
    acceptor = Thread.new do
      loop do
        conn = server.accept
        conn.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        Thread.new(conn) { |c| serve_conn(c) }
      rescue IOError, Errno::EBADF
        break
      end
    end
    latencies = Queue.new
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    clients = 4.times.map do
      Thread.new do
        s = TCPSocket.new("127.0.0.1", port)
        s.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        per_client.times do |i|
          a = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          s.write("GET /items/#{i} HTTP/1.1\r\nHost: bench\r\n\r\n")
          len = 0
          while (h = s.gets) && h != "\r\n"
            len = h.split(":", 2)[1].to_i if h.downcase.start_with?("content-length:")
          end
          s.read(len)
          latencies << Process.clock_gettime(Process::CLOCK_MONOTONIC) - a
        end
        s.close
      end
    end
    clients.each(&:join)
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    server.close
    acceptor.join(1)
    lat = []
    lat << latencies.pop until latencies.empty?
    lat.sort!
    n = lat.size
    { "requests" => n, "throughput_rps" => n / elapsed, "p50_ms" => lat[n / 2] * 1e3,
      "p99_ms" => lat[[n - 1, (n * 0.99).to_i].min] * 1e3 }
  end
end

def start_profiler
  case ENV.fetch("BENCH_RB_PROFILER", "none")
  when "stackprof"
    require "stackprof"
    StackProf.start(mode: :cpu, interval: Integer(ENV.fetch("BENCH_STACKPROF_INTERVAL_US", "10000")))
    at_exit do
      StackProf.stop
      out = ENV["BENCH_STACKPROF_OUT"]
      StackProf.results(out) if out
    end
  when "stacksight"
    $LOAD_PATH.unshift(File.expand_path("../../gem/lib", __dir__))
    require "stacksight"
    reason = Stacksight.unsupported_reason
    abort("stacksight-ruby unavailable: #{reason}") if reason
    Stacksight.start
  end
end

scale = Float(ARGV.shift)
start_profiler
sleep 0.3
results = {}
ARGV.each do |name|
  c0 = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  extra = RbBench.public_send(name, scale)
  results[name] = { "elapsed_s" => Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0,
                    "cpu_s" => Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - c0,
                    "extra" => extra }
end
puts "BENCH_RESULT " + JSON.generate(results)
$stdout.flush
