package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"
)

// maxMetaName keeps metadata file names under the 255 bytes most file
// systems allow.
const maxMetaName = 240

// shortMetaNames is the file system under gofakes3's metadata directory.
// gofakes3 stores an object's metadata in one file named after the whole
// key (slashes replaced) followed by a hash of the key, so keys longer than
// about 220 bytes — which S3 accepts up to 1,024 — fail with "file name
// too long". Long names keep their start and their end (the hash makes
// them unique) and lose the middle.
type shortMetaNames struct{ afero.Fs }

func shortMetaName(name string) string {
	dir, base := filepath.Split(name)
	if len(base) <= maxMetaName {
		return name
	}
	return dir + base[:maxMetaName-81] + "~" + base[len(base)-80:]
}

func (s shortMetaNames) Create(name string) (afero.File, error) {
	return s.Fs.Create(shortMetaName(name))
}

func (s shortMetaNames) Open(name string) (afero.File, error) { return s.Fs.Open(shortMetaName(name)) }

func (s shortMetaNames) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	return s.Fs.OpenFile(shortMetaName(name), flag, perm)
}

func (s shortMetaNames) Remove(name string) error { return s.Fs.Remove(shortMetaName(name)) }

func (s shortMetaNames) Rename(oldname, newname string) error {
	return s.Fs.Rename(shortMetaName(oldname), shortMetaName(newname))
}

func (s shortMetaNames) Stat(name string) (os.FileInfo, error) { return s.Fs.Stat(shortMetaName(name)) }

func (s shortMetaNames) Chmod(name string, mode os.FileMode) error {
	return s.Fs.Chmod(shortMetaName(name), mode)
}

func (s shortMetaNames) Chtimes(name string, atime, mtime time.Time) error {
	return s.Fs.Chtimes(shortMetaName(name), atime, mtime)
}
