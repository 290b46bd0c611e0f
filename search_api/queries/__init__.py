"""Pure query building: validated parameters -> Elasticsearch request bodies. User text only ever goes into
match-type clauses (multi_match, match, completion prefixes), never into query_string or string-built JSON."""
