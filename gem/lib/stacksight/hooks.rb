# hooks.rb - process events the profiler must follow, wrapped at the Ruby level.
#
# Fork: Process._fork (Ruby 3.1) is what fork, Kernel#fork and IO.popen("-")
# call; Process.daemon forks in C, so it is wrapped too. The child restarts
# its profiler with a new runtime-id and process id; the parent goes on.
# Exec: a pending SIGPROF would survive execve and kill the new program, so
# the profiler stops (flushing) and pending SIGPROFs are discarded first.
# Thread#name=: keeps the sidecar's thread-name table current.
# Ractor.new (Ruby < 3.1.4 and 3.2.0-3.2.2 only): a NEWOBJ hook crashes the VM
# as soon as another Ractor allocates (https://bugs.ruby-lang.org/issues/18464),
# so the memory profiles are switched off, with a warning, before the first
# Ractor starts.
module Stacksight
  module Hooks
    module_function

    def after_fork_child
      return unless Stacksight.native?
      Helper.forget
      Helper.start if Native.after_fork_child
      Stacksight.drain_logs
    end

    def before_exec
      return unless Stacksight.native?
      Helper.stop if Native.running?
      Native.before_exec
    end

    def after_failed_exec
      return unless Stacksight.native?
      Native.after_failed_exec
      Helper.start if Native.running?
    end

    # The one exec wrapper every exec entry point below goes through.
    def around_exec
      before_exec
      yield
    rescue Exception # rubocop:disable Lint/RescueException
      after_failed_exec
      raise
    end

    module ProcessMethods
      def _fork
        pid = super
        Hooks.after_fork_child if pid == 0
        pid
      end

      def daemon(*args)
        result = super
        Hooks.after_fork_child
        result
      end

      def exec(*args)
        Hooks.around_exec { super }
      end
    end

    module KernelExec
      private

      def exec(*args)
        Hooks.around_exec { super }
      end
    end

    module KernelSingletonExec
      def exec(*args)
        Hooks.around_exec { super }
      end
    end

    v = Gem::Version.new(RUBY_VERSION)
    NEWOBJ_RACTOR_CRASH = v < Gem::Version.new("3.1.4") ||
                          (v >= Gem::Version.new("3.2.0") && v < Gem::Version.new("3.2.3"))

    def before_ractors
      return unless NEWOBJ_RACTOR_CRASH && Stacksight.native? && Native.running?
      Native.allocations_off("Ractors are used, and this Ruby (#{RUBY_VERSION}) crashes when another Ractor " \
                             "allocates while allocations are sampled (Ruby bug #18464, fixed in 3.1.4, 3.2.3, 3.3)")
      Stacksight.drain_logs
    end

    module RactorNew
      def new(*args, **kwargs, &block)
        Hooks.before_ractors
        super
      end
    end

    module ThreadName
      def name=(value)
        result = super
        if Stacksight.native? && Native.running?
          id = native_thread_id
          Native.thread_named(id, name.to_s) if id
        end
        result
      end
    end
  end
end

Process.singleton_class.prepend(Stacksight::Hooks::ProcessMethods)
Kernel.prepend(Stacksight::Hooks::KernelExec)
Kernel.singleton_class.prepend(Stacksight::Hooks::KernelSingletonExec)
Thread.prepend(Stacksight::Hooks::ThreadName)
if defined?(Ractor) && Stacksight::Hooks::NEWOBJ_RACTOR_CRASH
  Ractor.singleton_class.prepend(Stacksight::Hooks::RactorNew)
end
