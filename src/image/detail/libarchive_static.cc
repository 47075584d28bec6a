// Linking libarchive statically (see the top-level CMakeLists.txt): libarchive's pax writer
// calls one helper that lives in archive_write_set_format.o, the object that also holds the
// table of every writer format, xar's among them, which would pull in libxml2 and ICU (30 MB)
// for a format berth never writes. Defining the helper here keeps that object out of the link.
// It does what libarchive's does: report that the entry's file type cannot be written.
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>



extern "C" void __archive_write_entry_filetype_unsupported(struct archive* a, struct archive_entry* entry,
                                                           const char* format) {
  archive_set_error(a, EINVAL, "%s: unsupported file type for the %s format",
                    archive_entry_pathname(entry), format);
}
