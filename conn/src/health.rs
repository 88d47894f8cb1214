//! Names for `grpc.health.v1` values, shared by every tool that shows a
//! serving status, so they all print the same word for the same answer.

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;

/// The name grpc-go prints for a serving status: the enum name
/// (`SERVING`), or the bare number for a value this proto does not know
/// (a newer server's status). Callers that show it in a sentence add their
/// own words around it.
pub fn serving_status_name(raw: i32) -> String {
    ServingStatus::try_from(raw)
        .map(|s| s.as_str_name().to_owned())
        .unwrap_or_else(|_| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_statuses_by_name_unknown_ones_by_number() {
        assert_eq!(serving_status_name(1), "SERVING");
        assert_eq!(serving_status_name(3), "SERVICE_UNKNOWN");
        assert_eq!(serving_status_name(42), "42");
    }
}
