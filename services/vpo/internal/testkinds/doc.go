// Package testkinds holds job kinds that exist only for vpo's own tests.
// They are registered only when [jobs] test_kinds = true (or
// VPO_JOBS_TEST_KINDS=true), which is off by default and must stay off in
// any real installation.
package testkinds
