package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time: go build -ldflags "-X main.version=$(git
// describe --tags --always --dirty)" (the Makefile and the Dockerfile do).
// Empty: the version comes from the build information Go embeds.
var version string

// versionString is what `shardflow version` prints after "shardflow ".
func versionString() string {
	info, _ := debug.ReadBuildInfo()
	return describeVersion(version, info)
}

// describeVersion is "<version> (commit <rev>[, modified], <time>) <go>":
// the -ldflags version if set, else the module version (set by `go install
// module@version`), else "devel"; the commit and its time from the VCS
// stamp `go build` embeds in a git checkout.
func describeVersion(ldflags string, info *debug.BuildInfo) string {
	v := ldflags
	if v == "" && info != nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = "devel"
	}
	var rev, when string
	modified := false
	goVersion := runtime.Version()
	if info != nil {
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var details []string
	if rev != "" {
		c := "commit " + rev
		if modified {
			c += ", modified"
		}
		details = append(details, c)
	}
	if when != "" {
		details = append(details, when)
	}
	if len(details) == 0 {
		return fmt.Sprintf("%s %s", v, goVersion)
	}
	return fmt.Sprintf("%s (%s) %s", v, strings.Join(details, ", "), goVersion)
}
