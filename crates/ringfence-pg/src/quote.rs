//! Quoting values for the places PostgreSQL reads them: SQL identifiers, SQL string literals and
//! libpq connection strings. Tenant database names come from configuration and may contain dashes,
//! quotes, spaces or backslashes; every one of them goes through here.

/// An SQL identifier in double quotes, so any name (dashes, quotes, upper case) means itself.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An SQL string literal that means `value` whatever `standard_conforming_strings` is: like the
/// server's own `quote_literal`, a value with a backslash becomes an `E''` string.
pub(crate) fn quote_literal(value: &str) -> String {
    let doubled = value.replace('\'', "''");
    if value.contains('\\') { format!("E'{}'", doubled.replace('\\', "\\\\")) } else { format!("'{doubled}'") }
}

/// A libpq conninfo value: single-quoted, with `\` and `'` escaped.
pub(crate) fn conninfo_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_literals_and_conninfo_values() {
        assert_eq!(quote_ident(r#"shop "eu""#), r#""shop ""eu""""#);
        assert_eq!(quote_ident("shop-eu"), r#""shop-eu""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b'c"), r"E'a\\b''c'");
        assert_eq!(conninfo_quote(r"a'b\c"), r"'a\'b\\c'");
    }
}
