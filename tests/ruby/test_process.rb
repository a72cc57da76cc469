# test_process.rb - profiles leaving the process: fork, `stacksight exec`,
# uploads to a real HTTP server, exec with no SIGPROF left behind.
require_relative "support"

class TestProcess < Minitest::Test
  include Support

  def setup
    @dir = Dir.mktmpdir("stacksight-test")
    @prefix = File.join(@dir, "p")
    @intake = Intake.new
  end

  def teardown
    @intake.close
    FileUtils.rm_rf(@dir)
  end

  def tags_of(req)
    event = JSON.parse(req.parts.fetch("event")[:data])
    [event, event.fetch("tags_profiler").split(",").to_h { |kv| kv.split(":", 2) }]
  end

  def test_fork_child_and_parent_both_profile_with_distinct_process_ids
    skip_under_asan_fork
    code = <<~RUBY
      require "stacksight"
      Stacksight::Profiler.new(service: "forky", tags: { "team" => "rb" }).start
      burn = ->(s) { t0 = Time.now; x = 0; x += 1 while Time.now - t0 < s }
      pid = fork { burn.(1.5); Stacksight.stop }
      burn.(1.5)
      Process.wait(pid)
      abort "child failed" unless $?.success?
      Stacksight.stop
      puts "\#{Process.pid} \#{pid}"
    RUBY
    out, = assert_ok(run_ruby(code, env: { "DD_PROFILING_OUTPUT_PPROF" => @prefix, "DD_PROFILING_UPLOAD_PERIOD" => 1,
                                            "DD_TRACE_AGENT_URL" => @intake.url }))
    parent, child = out.split.map { |x| Integer(x) }
    by_pid = profiles_by_pid(@prefix)
    assert_equal [child, parent].sort, by_pid.keys.sort
    [parent, child].each { |pid| assert_operator sum(by_pid[pid], "cpu-time"), :>, 0.02e9, "pid #{pid}" }  # shared machine: any real CPU
    tags = @intake.all(timeout: 1).map { |r| tags_of(r)[1] }
    assert_equal [child, parent].map(&:to_s).sort, tags.map { |t| t["process_id"] }.uniq.sort
    runtime_ids = tags.group_by { |t| t["process_id"] }.transform_values { |ts| ts.map { |t| t["runtime-id"] }.uniq }
    assert_equal 1, runtime_ids[parent.to_s].size
    assert_equal 1, runtime_ids[child.to_s].size
    refute_equal runtime_ids[parent.to_s], runtime_ids[child.to_s]
    assert(tags.all? { |t| t["team"] == "rb" && t["service"] == "forky" })
  end

  def test_stacksight_exec_writes_readable_profiles_and_uploads
    app = File.join(@dir, "app.rb")
    File.write(app, <<~RUBY)
      def work = 200_000.times { |i| i * i }
      t0 = Time.now
      work while Time.now - t0 < 2.5
      exit 3
    RUBY
    env = { "DD_PROFILING_OUTPUT_PPROF" => @prefix, "DD_PROFILING_UPLOAD_PERIOD" => 1,
            "DD_TRACE_AGENT_URL" => @intake.url, "DD_SERVICE" => "exec-app", "DD_ENV" => "test",
            "DD_VERSION" => "1.2.3", "DD_TAGS" => "team:ruby,tier:1" }
    _, err, status = run_cmd([RbConfig.ruby, EXE, "exec", RbConfig.ruby, app], env: env)
    assert_equal 3, status.exitstatus, err
    files = Dir["#{@prefix}.*.pprof"]
    refute_empty files
    top, top_err, st = Open3.capture3("/usr/local/go/bin/go", "tool", "pprof", "-top", "-sample_index=cpu-time", files.max)
    assert st.success?, top_err
    assert_match(/Object#work|Integer#times/, top)
    reqs = @intake.all(timeout: 1)
    refute_empty reqs
    req = reqs.first
    assert_equal "POST", req.method
    assert_equal "/profiling/v1/input", req.path
    assert_equal "stacksight-ruby", req.headers["dd-evp-origin"]
    assert_equal "event.json", req.parts.fetch("event")[:filename]
    pprof = req.parts.fetch("profile.pprof")
    assert_equal "profile.pprof", pprof[:filename]
    refute_empty PprofDecoder.decode(Zlib.gunzip(pprof[:data]))
    event, tags = tags_of(req)
    assert_equal "ruby", event["family"]
    assert_includes event["attachments"], "profile.pprof"
    { "service" => "exec-app", "env" => "test", "version" => "1.2.3", "language" => "ruby", "runtime" => "ruby",
      "runtime_version" => RUBY_VERSION, "team" => "ruby", "tier" => "1" }.each do |k, v|
      assert_equal v, tags[k], "tag #{k} in #{tags.inspect}"
    end
    %w[host runtime-id process_id profiler_version].each { |k| refute_empty tags[k].to_s, "tag #{k}" }
  end

  def test_exec_after_start_leaves_no_pending_sigprof
    code = <<~RUBY
      require "stacksight"
      Stacksight::Profiler.new(sample_hz: 1000).start
      4.times.map { Thread.new { t0 = Time.now; x = 0; x += 1 while Time.now - t0 < 5 } }
      t0 = Time.now; x = 0; x += 1 while Time.now - t0 < 0.3
      exec "sh", "-c", "sleep 0.3; echo survived"
    RUBY
    5.times do
      out, err, status = run_ruby(code, env: { "DD_PROFILING_OUTPUT_PPROF" => @prefix })
      assert status.success?, "#{status.inspect} #{err}"
      assert_equal "survived", out.strip
    end
  end

  def test_process_daemon_child_restarts
    skip_under_asan_fork
    pidfile = File.join(@dir, "daemon.pid")
    code = <<~RUBY
      require "stacksight"
      Stacksight::Profiler.new.start
      Process.daemon(true, true)
      File.write(#{pidfile.inspect}, Process.pid.to_s)
      t0 = Time.now; x = 0; x += 1 while Time.now - t0 < 1.2
      Stacksight.stop
      File.write(#{pidfile.inspect} + ".done", "")
    RUBY
    assert_ok(run_ruby(code, env: { "DD_PROFILING_OUTPUT_PPROF" => @prefix, "DD_PROFILING_UPLOAD_PERIOD" => 1 }))
    Timeout.timeout(20) { sleep 0.1 until File.exist?("#{pidfile}.done") }
    daemon = Integer(File.read(pidfile))
    assert_includes profiles_by_pid(@prefix).keys, daemon
  end

  # ASan's allocator is not fork-safe in a multithreaded process: a child
  # forked while another thread allocates can block forever inside ASan
  # (glibc's malloc guards its locks across fork). The fork paths run in the
  # normal build and in tests/reliability.
  def skip_under_asan_fork
    skip "fork under an ASan-preloaded Ruby can deadlock inside ASan's allocator" if ENV["TEST_CHILD_LD_PRELOAD"]
  end
end
