//! Real CNCF Distribution registry for tests (to be written).
