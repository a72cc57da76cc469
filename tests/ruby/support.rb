# support.rb - what the Ruby tests share: running a Ruby child with the gem
# loaded, reading its profile files, and a tiny HTTP intake on 127.0.0.1.
require "minitest/autorun"
require "json"
require "open3"
require "socket"
require "timeout"
require "tmpdir"
require "rbconfig"
require_relative "pprof_decoder"

module Support
  ROOT = File.expand_path("../..", __dir__)
  LIB = File.join(ROOT, "gem", "lib")
  EXE = File.join(ROOT, "gem", "exe", "stacksight")

  # Environment without DD_* leaking from the caller.
  def clean_env(extra = {})
    env = ENV.to_h.reject { |k, _| k.start_with?("DD_", "STACKSIGHT_") || k == "RUBYOPT" }
    # Sanitizer runs preload the ASan runtime into the profiled children
    # only: the test runner itself loads no code of ours.
    env["LD_PRELOAD"] = ENV["TEST_CHILD_LD_PRELOAD"] if ENV["TEST_CHILD_LD_PRELOAD"]
    env.merge(extra.transform_values(&:to_s))
  end

  # Run `code` in a fresh Ruby with the gem on the load path. Returns
  # [stdout, stderr, status].
  def run_ruby(code, env: {}, timeout: 60, args: [])
    Dir.mktmpdir do |dir|
      script = File.join(dir, "script.rb")
      File.write(script, code)
      run_cmd([RbConfig.ruby, "-I", LIB, script, *args], env: env, timeout: timeout)
    end
  end

  def run_cmd(cmd, env: {}, timeout: 60)
    out = err = status = nil
    Open3.popen3(clean_env(env), *cmd, unsetenv_others: true) do |i, o, e, t|
      i.close
      reader_o = Thread.new { o.read }
      reader_e = Thread.new { e.read }
      unless t.join(timeout)
        Process.kill(:KILL, t.pid) rescue nil
        flunk "timed out after #{timeout}s: #{cmd.join(' ')}"
      end
      out = reader_o.value
      err = reader_e.value
      status = t.value
    end
    [out, err, status]
  end

  def assert_ok(result)
    out, err, status = result
    assert status.success?, "child failed (#{status.inspect})\nstdout:\n#{out}\nstderr:\n#{err}"
    result
  end

  # All samples of files "<prefix>.<pid>.<seq>.pprof", by pid.
  def profiles_by_pid(prefix)
    Dir["#{prefix}.*.pprof"].group_by { |f| Integer(f[/\.(\d+)\.\d+\.pprof\z/, 1]) }
                            .transform_values { |fs| fs.sort.flat_map { |f| PprofDecoder.read(f) } }
  end

  def samples(prefix)
    profiles_by_pid(prefix).values.flatten
  end

  def sum(samples, type)
    samples.sum { |s| s.values.fetch(type, 0) }
  end

  # A minimal HTTP/1.1 intake: records every request (headers, multipart parts).
  class Intake
    Request = Struct.new(:method, :path, :headers, :parts)
    attr_reader :requests, :port

    def initialize
      @server = TCPServer.new("127.0.0.1", 0)
      @port = @server.addr[1]
      @requests = Queue.new
      @thread = Thread.new { loop { serve(@server.accept) } rescue IOError }
    end

    def url = "http://127.0.0.1:#{@port}"

    def close
      @server.close
      @thread.join(1)
    end

    def all(timeout: 0)
      deadline = Time.now + timeout
      list = []
      loop do
        list << @requests.pop(true)
      rescue ThreadError
        break if Time.now > deadline
        sleep 0.05
      end
      list
    end

    private

    def serve(sock)
      line = sock.gets or return
      method, path, = line.split(" ")
      headers = {}
      while (h = sock.gets) && h != "\r\n"
        k, v = h.split(":", 2)
        headers[k.strip.downcase] = v.strip
      end
      sock.write("HTTP/1.1 100 Continue\r\n\r\n") if headers["expect"]&.casecmp?("100-continue")
      body = if headers["transfer-encoding"]&.include?("chunked")
               read_chunked(sock)
             else
               sock.read(Integer(headers.fetch("content-length", "0")))
             end
      @requests << Request.new(method, path, headers, parse_multipart(headers["content-type"].to_s, body.to_s))
      sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    rescue StandardError => e
      warn "intake: #{e.class}: #{e.message}"
    ensure
      sock.close rescue nil
    end

    def read_chunked(sock)
      body = +""
      while (size = sock.gets.to_s.strip.to_i(16)) > 0
        body << sock.read(size)
        sock.read(2)
      end
      sock.gets
      body
    end

    # name => {filename:, content_type:, data:}
    def parse_multipart(content_type, body)
      boundary = content_type[/boundary="?([^";]+)"?/, 1] or return {}
      body.b.split("--#{boundary}".b).each_with_object({}) do |chunk, parts|
        next if chunk.start_with?("--") || chunk.strip.empty?
        head, data = chunk.sub(/\A\r\n/, "").split("\r\n\r\n".b, 2)
        next unless data
        name = head[/name="([^"]+)"/, 1]
        parts[name] = { filename: head[/filename="([^"]+)"/, 1], content_type: head[/Content-Type: *([^\r\n]+)/i, 1],
                        data: data.chomp("\r\n") }
      end
    end
  end
end
