//! Configuration: TOML file → serde mirror (`raw`) → validation → typed model.
