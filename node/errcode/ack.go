package errcode

// Answers to a client event's acknowledgement (SPEC: {"ok": true, ...} or
// {"ok": false, "error": {"code", "message"}}), shaped in one place for the
// room events and the command channel alike.

// AckOK answers a client event that succeeded, with fields beside "ok".
func AckOK(fields map[string]any) map[string]any {
	out := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		out[k] = v
	}
	out["ok"] = true
	return out
}

// AckFail answers a client event that failed; e is an *Error, or an error
// type of the same JSON shape with more fields (command.Error).
func AckFail(e error) map[string]any {
	return map[string]any{"ok": false, "error": e}
}
