//! Real git servers for tests: file:// and smart HTTP (to be written).
