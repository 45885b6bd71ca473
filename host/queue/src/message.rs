//! The batch message: coordinates of one batch, never data.

use serde::{Deserialize, Serialize};

/// One batch of one node of one run, in Capillaries' message layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMessage {
    /// Creation time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// `<%06d batch idx>-<uuid>`.
    pub id: String,
    /// Script location.
    pub script_url: String,
    /// Params location (empty when none).
    pub script_params_url: String,
    /// Keyspace.
    pub ks: String,
    /// Run id.
    pub run_id: i32,
    /// Node to process.
    pub target_node: String,
    /// First token of the batch (file index for file readers).
    pub first_token: i64,
    /// Last token of the batch (file index for file readers).
    pub last_token: i64,
    /// Batch index.
    pub batch_idx: i32,
    /// Number of batches of the node in this run.
    pub batches_total: i32,
}

impl BatchMessage {
    /// A message for batch `batch_idx` of `batches_total`, stamped now with a fresh id.
    /// Script locations are empty; set them with struct update syntax where needed.
    pub fn new(
        ks: &str,
        run_id: i32,
        node: &str,
        batch_idx: i32,
        batches_total: i32,
        first_token: i64,
        last_token: i64,
    ) -> BatchMessage {
        BatchMessage {
            ts: chrono::Utc::now().timestamp_millis(),
            id: format!("{batch_idx:06}-{}", uuid::Uuid::new_v4()),
            script_url: String::new(),
            script_params_url: String::new(),
            ks: ks.to_string(),
            run_id,
            target_node: node.to_string(),
            first_token,
            last_token,
            batch_idx,
            batches_total,
        }
    }

    /// `ks/run_id/node/batch_idx`, used in logs.
    pub fn full_batch_id(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.ks, self.run_id, self.target_node, self.batch_idx
        )
    }

    /// JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a message always serializes")
    }

    /// Parses a JSON body.
    ///
    /// # Errors
    /// [`crate::QueueError::BadMessage`] when the body is not a batch message.
    pub fn from_json(body: &[u8]) -> crate::Result<BatchMessage> {
        serde_json::from_slice(body).map_err(|e| crate::QueueError::BadMessage(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_id_format() {
        let m = BatchMessage::new("ks", 2, "n", 7, 10, -5, 5);
        assert!(m.id.starts_with("000007-"));
        let back = BatchMessage::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert_eq!(m.full_batch_id(), "ks/2/n/7");
        assert!(BatchMessage::from_json(b"{}").is_err());
    }
}
