# helper.rb - the one Ruby thread stacksight runs.
#
# Stacks captured by the signal handler hold raw frame objects; naming them
# needs the GVL, and the core's warnings must reach a Ruby Logger (which takes
# a Mutex and does IO). Neither is safe inside a signal handler or a postponed
# job, so both happen here, on an ordinary thread that sleeps on a pipe the
# sidecar writes to (at most every 50 ms while stacks wait, or when a warning
# is queued). It is excluded from sampling.
require "io/wait"

module Stacksight
  module Helper
    class << self
      def start
        stop
        fd = Native.wake_fd or return
        io = IO.for_fd(fd, autoclose: false)
        @stopping = false
        @thread = Thread.new { run(io) }
      end

      def stop
        thread = @thread
        return unless thread
        @thread = nil
        @stopping = true
        Native.wake if thread.alive?
        begin
          thread.join(2) unless thread.equal?(Thread.current)
        rescue Exception # rubocop:disable Lint/RescueException
          nil   # the helper's own failure is not the caller's
        end
      end

      # In a forked child the thread does not exist any more.
      def forget
        @thread = nil
      end

      private

      def run(io)
        Thread.current.name = "stacksight"
        Thread.current.report_on_exception = false
        Native.exclude_current_thread
        until @stopping
          io.wait_readable(0.5)
          begin
            io.read_nonblock(4096)
          rescue IO::WaitReadable, EOFError
            nil
          end
          Native.resolve
          Stacksight.drain_logs
        end
      rescue IOError, SystemCallError
        nil   # pipe replaced or closed: a new helper takes over
      rescue StandardError => e
        Stacksight.logger.warn("stacksight: helper thread stopped: #{e.class}: #{e.message}") rescue nil
      end
    end
  end
end
