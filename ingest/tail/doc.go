// Package tail follows the files that a flow's globs match and reads their
// lines, surviving rotation, truncation, deletion and restarts.
//
// It owns file discovery (globs re-evaluated every discovery interval),
// file identity (device and inode, plus a fingerprint — a hash of the
// first FingerprintBytes — that tells a reused inode or a
// truncated-and-rewritten file from the file an offset belongs to), and
// reading: each line with its byte offsets and line number, in file order.
// It must never skip a byte of a file it tracks (a line longer than
// MaxLineBytes is handed over cut, flagged, with its true end), never read
// a byte twice within one run, and never start a file anywhere but its
// checkpoint, its beginning, or (StartAtEnd, at the first discovery only)
// its end. Checkpoints themselves are the state package's; this package
// only reads them at start-up and registers every file it reads there.
//
// # Rotation
//
//   - By rename (app.log → app.log.1, a new app.log): the renamed file is
//     the same inode. It stays open and is read to its end; once its path
//     no longer names it (it left the globs or was deleted) and it has not
//     grown for CloseInactive, its last line is handed over even without a
//     line break, and it is finished and closed. The new file at the old
//     path is a new file, read from its start.
//   - By copytruncate (copy to app.log.1, then truncate app.log to 0): a
//     file whose size drops below what was read is a new generation, read
//     from its start. A copy whose fingerprint equals the old generation's
//     (when the globs match copies, e.g. app.log*) continues from where the
//     old generation was read, so its lines are sent once; its checkpoint
//     passes that point only after the old generation's records were
//     acknowledged. Lines written between the last read and the truncation
//     exist only in the copy: with globs that do not match the copy they
//     are lost, which is inherent to copytruncate.
//   - Deleted files are read to their end through the open descriptor.
//
// # Concurrency
//
// A Tailer is owned by one goroutine (the flow's reader): Poll, and the
// Handler calls it makes, run on it. It starts no goroutines.
package tail
