# Writes a C++ source defining `std::string_view <SYMBOL>()` over the bytes
# of INPUT, so the dashboard ships inside the binary (no files to install,
# nothing fetched from the internet).
# cmake -DINPUT=in -DOUTPUT=out.cc -DSYMBOL=name -P embed.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by gateway/dashboard/embed.cmake; do not edit.\n"
  "#include <string_view>\n\n"
  "namespace omnigate::gateway {\n\n"
  "namespace {\nconstexpr char kBytes[] = {\n${bytes}'\\0'};\n}  // namespace\n\n"
  "std::string_view ${SYMBOL}() { return std::string_view(kBytes, ${size}); }\n\n"
  "}  // namespace omnigate::gateway\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
