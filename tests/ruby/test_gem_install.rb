# test_gem_install.rb - the gem as a user gets it, on the Ruby under test:
# `gem build` of stacksight.gemspec, `gem install` (compiles the extension
# against that Ruby's headers), then `stacksight exec` from the installed gem
# profiles a program through -rstacksight/preload.
require_relative "support"

class TestGemInstall < Minitest::Test
  include Support

  GEM = [RbConfig.ruby, "-e", 'require "rubygems/gem_runner"; Gem::GemRunner.new.run(ARGV)', "--"].freeze

  def test_build_install_and_exec
    Dir.mktmpdir do |dir|
      home = File.join(dir, "gems")
      env = { "GEM_HOME" => home, "GEM_PATH" => home }
      out, err, status = run_cmd([*GEM, "build", File.join(ROOT, "stacksight.gemspec"), "--output", File.join(dir, "s.gem")],
                                 env: env, timeout: 120)
      assert status.success?, "gem build: #{out}#{err}"
      out, err, status = run_cmd([*GEM, "install", "--local", "--no-document", "--install-dir", home, File.join(dir, "s.gem")],
                                 env: env, timeout: 300)
      assert status.success?, "gem install: #{out}#{err}"
      installed = Dir[File.join(home, "gems", "stacksight-*")].first
      refute File.exist?(File.join(installed, "gem", "lib", "stacksight", "build_status.txt")), "extension not built"
      app = File.join(dir, "app.rb")
      File.write(app, <<~RUBY)
        abort "not the installed gem" unless $LOADED_FEATURES.any? { |f| f.start_with?(#{home.inspect}) }
        def work = 300_000.times { |i| i * i }
        c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
        t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        work while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - c0 < 0.5 &&
                   Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 20
        puts Stacksight.running?
      RUBY
      prefix = File.join(dir, "p")
      out, err, status = run_cmd([RbConfig.ruby, File.join(home, "bin", "stacksight"), "exec", RbConfig.ruby, app],
                                 env: env.merge("DD_PROFILING_OUTPUT_PPROF" => prefix, "DD_PROFILING_UPLOAD_PERIOD" => "30"))
      assert status.success?, err
      assert_equal "true", out.strip, err
      s = samples(prefix)
      work = sum(s.select { |x| x.stack.include?("Object#work") }, "cpu-time")
      assert_operator work, :>, 0.8 * sum(s, "cpu-time"), "CPU on Object#work"
    end
  end
end
