# cli.rb - the `stacksight` command of the gem.
#
#   stacksight exec CMD [ARGS...]   run CMD with every Ruby process it starts profiled
#   stacksight serve [ARGS...]      the profile intake/viewer (part of the Python package)
#   stacksight version | help
module Stacksight
  module CLI
    USAGE = <<~TEXT
      usage: stacksight exec COMMAND [ARGS...]   profile COMMAND (and the Ruby processes it starts)
             stacksight serve [ARGS...]          run the intake and viewer (Python package)
             stacksight version
             stacksight help

      exec adds -rstacksight/preload to RUBYOPT, then replaces itself with COMMAND;
      settings come from DD_* variables (DD_SERVICE, DD_ENV, DD_TRACE_AGENT_URL, ...).
    TEXT

    module_function

    def run(argv)
      command, *rest = argv
      case command
      when "exec" then exec_command(rest)
      when "serve" then serve(rest)
      when "version", "--version", "-v"
        require_relative "version"
        puts "stacksight #{Stacksight::VERSION} (ruby #{RUBY_VERSION})"
        0
      when nil, "help", "--help", "-h"
        puts USAGE
        command.nil? ? 2 : 0
      else
        warn "stacksight: unknown command #{command.inspect}\n\n#{USAGE}"
        2
      end
    end

    # RUBYOPT for the child: our lib on the load path (so a checkout works
    # without installing the gem) and the preload.
    def rubyopt(current)
      lib = File.expand_path("..", __dir__)
      opts = current.to_s.split(" ")
      additions = []
      additions << "-I#{lib}" unless lib.include?(" ") || opts.include?("-I#{lib}")
      additions << "-rstacksight/preload" unless opts.include?("-rstacksight/preload")
      (opts + additions).join(" ")
    end

    def exec_command(args)
      if args.empty?
        warn "stacksight exec: missing COMMAND\n\n#{USAGE}"
        return 2
      end
      return exec_python(args) if python_command?(args.first)
      ENV["RUBYOPT"] = rubyopt(ENV["RUBYOPT"])
      begin
        Kernel.exec(*args)
      rescue SystemCallError => e
        warn "stacksight exec: cannot run #{args.first}: #{e.message}"
        e.is_a?(Errno::ENOENT) ? 127 : 126
      end
    end

    # A Python program is profiled by the Python package's stacksight-run.
    def python_command?(command)
      name = File.basename(command)
      return true if name.match?(/\Apython[0-9.]*\z/)
      path = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |dir| File.join(dir, command) }
                .find { |candidate| File.file?(candidate) && File.executable?(candidate) }
      path && File.open(path, "rb") { |f| f.readline(200).to_s.include?("python") }
    rescue SystemCallError, EOFError
      false
    end

    def exec_python(args)
      python = ENV.fetch("STACKSIGHT_PYTHON", "python3")
      if system(python, "-c", "import stacksight.run", out: File::NULL, err: File::NULL)
        begin
          Kernel.exec(python, "-m", "stacksight.run", *args)
        rescue SystemCallError => e
          warn "stacksight exec: cannot run #{python}: #{e.message}"
          return 127
        end
      end
      warn <<~TEXT
        stacksight exec: profiling Python needs stacksight's Python package, which #{python} cannot import.
        Install it with:  pip install stacksight   (or from a checkout:  pip install .)
      TEXT
      1
    end

    def serve(args)
      python = ENV.fetch("STACKSIGHT_PYTHON", "python3")
      if system(python, "-c", "import stacksight.serve", out: File::NULL, err: File::NULL)
        begin
          Kernel.exec(python, "-m", "stacksight", "serve", *args)
        rescue SystemCallError => e
          warn "stacksight serve: cannot run #{python}: #{e.message}"
          return 127
        end
      end
      warn <<~TEXT
        stacksight serve is part of stacksight's Python package, which #{python} cannot import.
        Install it with:  pip install stacksight
        (or from a checkout of the repository:  pip install .)
        then run this command again, or:  #{python} -m stacksight serve #{args.join(' ')}
      TEXT
      1
    end
  end
end
