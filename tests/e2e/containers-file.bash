# The frame every containers-*.bats file shares, loaded instead of
# repeated: the libraries, one engine for the file (ctr_setup_file, with
# CTR_FILE_CONFIG as extra config members and CTR_ALLOW_PRIVILEGED when the
# file sets them before this load), its teardown, and each test skipped
# with the file's reason when the file cannot run here. A file that needs
# more in setup() defines its own after the load, calling img_setup_skip
# first.
bats_require_minimum_version 1.5.0
load helpers
load images-lib
load containers-lib

setup_file() {
  ctr_setup_file ${CTR_FILE_CONFIG:+"$CTR_FILE_CONFIG"}
}

teardown_file() {
  ctr_teardown_file
}

setup() {
  img_setup_skip
}
