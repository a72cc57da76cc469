# test_config.rb - configuration in code and by environment, and bad input:
# junk values warn once through the Logger and keep the default; wrong
# keyword arguments raise; an unusable native extension never stops the app.
require_relative "support"

class TestConfig < Minitest::Test
  include Support

  def test_wrong_keyword_arguments_raise_naming_them
    out, = assert_ok(run_ruby(<<~RUBY))
      require "stacksight"
      begin
        Stacksight::Profiler.new(servcie: "x", envv: "y")
      rescue ArgumentError => e
        puts e.message
      end
      begin
        Stacksight::Profiler.new(tags: 42)
      rescue ArgumentError => e
        puts e.message
      end
      begin
        Stacksight::Profiler.new(service: "a,b").start
      rescue ArgumentError => e
        puts e.message
      end
    RUBY
    lines = out.lines.map(&:strip)
    assert_match(/servcie/, lines[0])
    assert_match(/envv/, lines[0])
    assert_match(/tags/, lines[1])
    assert_match(/service.*comma/, lines[2])
  end

  def test_junk_environment_warns_once_and_keeps_defaults
    code = <<~RUBY
      require "stringio"
      log = StringIO.new
      require "stacksight"
      Stacksight.logger = Logger.new(log)
      pr = Stacksight::Profiler.new
      pr.start
      pr.stop
      pr.start
      pr.stop
      $stdout.write log.string
    RUBY
    out, = assert_ok(run_ruby(code, env: { "DD_PROFILING_MAX_FRAMES" => "lots", "DD_PROFILING_UPLOAD_PERIOD" => "soon",
                                           "DD_TRACE_AGENT_PORT" => "http", "DD_PROFILING_OUTPUT_PPROF" => "/dev/null/x" }))
    %w[DD_PROFILING_MAX_FRAMES DD_PROFILING_UPLOAD_PERIOD DD_TRACE_AGENT_PORT].each do |name|
      assert_equal 1, out.scan(/#{name}=/).size, "#{name} warned once:\n#{out}"
    end
    assert_match(/default \(400\)/, out)
    assert_match(/default \(60\)/, out)
  end

  def test_junk_enabled_flag_warns_at_require_and_does_not_start
    code = <<~RUBY
      require "stringio"
      require "logger"
      module Stacksight; end
      $log = StringIO.new
      Stacksight.instance_variable_set(:@logger, Logger.new($log))
      require "stacksight"
      puts Stacksight.running?
      $stdout.write $log.string
    RUBY
    out, = assert_ok(run_ruby(code, env: { "DD_PROFILING_ENABLED" => "maybe" }))
    assert_equal "false", out.lines.first.strip
    assert_equal 1, out.scan(/DD_PROFILING_ENABLED=maybe/).size, out
  end

  def test_env_enabled_autostarts_and_configure_block_works
    code = <<~RUBY
      require "stacksight"
      puts Stacksight.running?
      Stacksight.stop
      Stacksight.configure do |c|
        c.profiling.enabled = true
        c.env = "prod"
        c.service = "my-web-app"
        c.version = "1.0.3"
      end
      puts Stacksight.running?
      Stacksight.configure { |c| c.profiling.enabled = false }
      puts Stacksight.running?
    RUBY
    out, = assert_ok(run_ruby(code, env: { "DD_PROFILING_ENABLED" => "true", "DD_PROFILING_OUTPUT_PPROF" => File.join(Dir.tmpdir, "stacksight-config-test") }))
    assert_equal %w[true true false], out.split
  end

  def test_missing_native_extension_warns_and_the_app_runs
    Dir.mktmpdir do |dir|
      FileUtils.cp_r(File.join(LIB, "."), dir)
      FileUtils.rm_f(Dir[File.join(dir, "stacksight", "*.so")])
      out, err, status = run_cmd([RbConfig.ruby, "-I", dir, "-e",
                                  'require "stacksight"; p Stacksight::Profiler.new(service: "x").start; puts "app ran"'])
      assert status.success?, err
      assert_equal "false\napp ran\n", out
      assert_match(/not profiling: the native extension/, err)
    end
  end

  def test_cli_serve_without_python_package_says_what_to_install
    _, err, status = run_cmd([RbConfig.ruby, EXE, "serve"], env: { "STACKSIGHT_PYTHON" => "/nonexistent/python3" })
    assert_equal 1, status.exitstatus
    assert_match(/pip install stacksight/, err)
    _, err, status = run_cmd([RbConfig.ruby, EXE, "frobnicate"])
    assert_equal 2, status.exitstatus
    assert_match(/unknown command/, err)
  end
end
