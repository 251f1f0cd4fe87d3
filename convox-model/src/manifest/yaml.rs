//! The one module that knows the YAML parser.
