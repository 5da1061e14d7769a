"""Version of the vpo packages built by //packaging:deb and //packaging:rpm.

Bazel needs the package file names when it loads BUILD files, before any
file can be read, so the upstream version is repeated here. The build fails
with a clear message when it differs from the version stamped into the
binary (the VERSION file); bump both, and add a packaging/changelog.yaml
entry, for a release.
"""

VPO_VERSION = "0.1.0"

# Packaging revision: bump for a packaging-only change of the same VERSION.
VPO_RELEASE = "1"
