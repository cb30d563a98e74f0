//! The API's own words from an error response, so `kpi check` and a failed
//! sync show "Unrecognized field in the query: 'campaign.foo'" rather than
//! "400 Bad Request".

use serde_json::Value;

/// How much of a non-JSON body an error quotes: enough for an HTML error
/// page's title or a proxy's one-liner, not a whole page in the log.
pub const MAX_TEXT_CHARS: usize = 500;

/// The message an API put in an error body. Understands Google APIs
/// (`error.message` plus Google Ads' `error.details[].errors[].message`,
/// also inside the array `searchStream` returns), Meta (`error.message`),
/// HubSpot (`message`), Salesforce (an array of `{message, errorCode}`:
/// `errorCode: message`), OAuth2 (`error` + `error_description`), problem
/// JSON (`title` + `detail`) and Microsoft Advertising's faults
/// (`OperationErrors`, `BatchErrors` or `Errors` with `Code`, `ErrorCode`
/// and `Message`, and the `TrackingId` Microsoft support asks for);
/// anything else is quoted, up to 500 characters.
pub fn api_error_message(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<Value>(body)
        && let Some(message) = json_message(&json)
    {
        return message;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    let mut quoted: String = text.chars().take(MAX_TEXT_CHARS).collect();
    if text.chars().nth(MAX_TEXT_CHARS).is_some() {
        quoted.push('…');
    }
    quoted
}

fn json_message(json: &Value) -> Option<String> {
    let json = match json {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let obj = json.as_object()?;
    if let Some(message) = microsoft_fault(obj) {
        return Some(message);
    }
    match obj.get("error") {
        Some(Value::Object(error)) => {
            let mut message = string(error.get("message"))
                .or_else(|| string(error.get("error_user_msg")))
                .or_else(|| string(error.get("status")))?;
            let details = google_ads_details(error.get("details"));
            if !details.is_empty() && !details.contains(&message) {
                message = format!("{message} ({})", details.join("; "));
            }
            return Some(message);
        }
        Some(Value::String(code)) => {
            return Some(match string(obj.get("error_description")) {
                Some(description) => format!("{code}: {description}"),
                None => code.clone(),
            });
        }
        _ => {}
    }
    if let Some(message) = string(obj.get("message")) {
        // Salesforce's code (`INVALID_SESSION_ID`, `REQUEST_LIMIT_EXCEEDED`)
        // is what its documentation and a connector's rules go by.
        if let Some(code) = string(obj.get("errorCode")) {
            return Some(format!("{code}: {message}"));
        }
        return Some(message);
    }
    match (string(obj.get("title")), string(obj.get("detail"))) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (t, d) => t.or(d),
    }
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Microsoft Advertising's `ApiFaultDetail` / `AdApiFaultDetail`: every
/// error as `Message (code 105 InvalidCredentials)`, joined with `; `, then
/// `[TrackingId ...]`. The code stays in the text so that a connector can
/// tell a throttle (117) from a refusal.
fn microsoft_fault(obj: &serde_json::Map<String, Value>) -> Option<String> {
    let errors: Vec<&Value> = ["OperationErrors", "BatchErrors", "Errors"]
        .iter()
        .filter_map(|k| obj.get(*k)?.as_array())
        .flatten()
        .collect();
    if errors.is_empty() {
        return None;
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let message = string(e.get("Message")).unwrap_or_else(|| "(no message)".into());
            let code = match e.get("Code") {
                Some(Value::Number(n)) => Some(n.to_string()),
                other => string(other),
            };
            match (code, string(e.get("ErrorCode"))) {
                (Some(c), Some(name)) => format!("{message} (code {c} {name})"),
                (Some(c), None) => format!("{message} (code {c})"),
                (None, Some(name)) => format!("{message} ({name})"),
                (None, None) => message,
            }
        })
        .collect();
    let mut message = parts.join("; ");
    if let Some(id) = string(obj.get("TrackingId")) {
        message.push_str(&format!(" [TrackingId {id}]"));
    }
    Some(message)
}

/// Google Ads hides the useful part in `details[].errors[].message`.
fn google_ads_details(details: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(details)) = details else {
        return Vec::new();
    };
    details
        .iter()
        .filter_map(|d| d.get("errors")?.as_array())
        .flatten()
        .filter_map(|e| string(e.get("message")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error() {
        let body = br#"{"error":{"code":400,"message":"Invalid value at 'date_ranges[0].start_date'","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(
            api_error_message(body),
            "Invalid value at 'date_ranges[0].start_date'"
        );
    }

    #[test]
    fn google_ads_search_stream_error_with_details() {
        let body = br#"[{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure","errors":[{"errorCode":{"queryError":"UNRECOGNIZED_FIELD"},"message":"Unrecognized field in the query: 'campaign.foo'."}]}]}}]"#;
        assert_eq!(
            api_error_message(body),
            "Request contains an invalid argument. (Unrecognized field in the query: 'campaign.foo'.)"
        );
    }

    #[test]
    fn meta_hubspot_oauth_problem() {
        let meta = br#"{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}"#;
        assert_eq!(api_error_message(meta), "(#100) Invalid parameter");
        let hubspot = br#"{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}"#;
        assert_eq!(
            api_error_message(hubspot),
            "Authentication credentials not found."
        );
        let oauth = br#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#;
        assert_eq!(
            api_error_message(oauth),
            "invalid_grant: Token has been expired or revoked."
        );
        let problem = br#"{"title":"Resource Not Found","detail":"The requested resource could not be found.","status":404}"#;
        assert_eq!(
            api_error_message(problem),
            "Resource Not Found: The requested resource could not be found."
        );
    }

    #[test]
    fn salesforce_error_array() {
        let body = br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert_eq!(
            api_error_message(body),
            "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
        );
    }

    #[test]
    fn microsoft_advertising_faults() {
        let body = br#"{"OperationErrors":[{"Code":100,"ErrorCode":"NullRequest","Details":null,"Message":"The request message is null."}],"BatchErrors":[],"TrackingId":"65602e3d-f6ff-4968-920c-e420989c9e31","Type":"ApiFaultDetail"}"#;
        assert_eq!(
            api_error_message(body),
            "The request message is null. (code 100 NullRequest) [TrackingId 65602e3d-f6ff-4968-920c-e420989c9e31]"
        );
        let two = br#"{"Errors":[{"Code":105,"ErrorCode":"InvalidCredentials","Message":"Authentication failed."},{"Code":117,"Message":"Too many calls."}],"TrackingId":"t-1","Type":"AdApiFaultDetail"}"#;
        assert_eq!(
            api_error_message(two),
            "Authentication failed. (code 105 InvalidCredentials); Too many calls. (code 117) [TrackingId t-1]"
        );
        // Empty error lists are no fault: the body is quoted as it is.
        assert_eq!(
            api_error_message(br#"{"OperationErrors":[],"TrackingId":"x"}"#),
            r#"{"OperationErrors":[],"TrackingId":"x"}"#
        );
    }

    #[test]
    fn text_is_quoted_and_truncated() {
        assert_eq!(
            api_error_message(b"  upstream connect error \n"),
            "upstream connect error"
        );
        assert_eq!(api_error_message(b""), "(empty body)");
        let long = "é".repeat(600);
        let m = api_error_message(long.as_bytes());
        assert_eq!(m.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(m.ends_with('…'));
        // JSON without a known message member is quoted as text.
        assert_eq!(api_error_message(br#"{"ok":false}"#), r#"{"ok":false}"#);
    }
}
