// state/detail/sqlite_error.h — SQLite result codes to berth Errors (private to state/).
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

struct sqlite3;

namespace berth::state::detail {

// The ErrorKind for an extended result code (table in state/database.h).
ErrorKind kind_for_sqlite_code(int extended_code);

// "<summary>: <sqlite message>" with the kind mapped from the extended code. Reads the message
// from db when it is non-null, else from sqlite3_errstr(code).
Error sqlite_error(sqlite3* db, int code, std::string_view summary);

// The first non-blank line of sql, trimmed and cut to 120 bytes: what errors name.
std::string summarize_sql(std::string_view sql);

}  // namespace berth::state::detail
