# mk/rubies.mk - the Ruby suite on every Ruby the gem supports (issue #12).
#
#   make test-rubies     tests/ruby on 3.1 (the host's Ruby, `make test-ruby`),
#                        3.3 (Debian trixie) and 3.4 (Debian experimental)
#   make test-ruby-3.3   one of them; the gem is built from a copy of the tree
#   make test-ruby-3.4   in build/rubies/NAME, inside the chroot
#
# The chroots are made once by tests/chroot/chroot.sh (debootstrap, root) and
# reused; a changed tests/chroot/suites/NAME.conf makes them anew.

.PHONY: test-rubies test-ruby-3.3 test-ruby-3.4

test-ruby-3.3: deps
	tests/chroot/ruby_suite.sh trixie-ruby ruby3.3

test-ruby-3.4: deps
	tests/chroot/ruby_suite.sh sid-ruby34 ruby3.4

test-rubies: test-ruby test-ruby-3.3 test-ruby-3.4

test: test-rubies
