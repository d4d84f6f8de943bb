package polls

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"courier/node/errcode"
)

func TestTaskIntervalJSON(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		`30`:       30 * time.Second,
		`1.5`:      1500 * time.Millisecond,
		`"30s"`:    30 * time.Second,
		`"1m30s"`:  90 * time.Second,
		`"250ms"`:  250 * time.Millisecond, // parsed; Validate refuses it
		`null`:     0,
		`86400`:    24 * time.Hour,
		`99999999`: -1, // out of any range: Validate refuses it
	} {
		var task Task
		if err := json.Unmarshal([]byte(`{"name":"a","interval":`+in+`}`), &task); err != nil {
			t.Errorf("interval %s: %v", in, err)
			continue
		}
		if task.Interval != want {
			t.Errorf("interval %s = %v, want %v", in, task.Interval, want)
		}
	}
	for _, in := range []string{`"soon"`, `true`, `[1]`} {
		var task Task
		if err := json.Unmarshal([]byte(`{"interval":`+in+`}`), &task); err == nil {
			t.Errorf("interval %s was accepted", in)
		}
	}
	out, _ := json.Marshal(Task{Name: "a", Interval: 90 * time.Second})
	if !strings.Contains(string(out), `"interval":90`) {
		t.Errorf("marshalled %s; want the interval in seconds", out)
	}
}

func TestTaskValidate(t *testing.T) {
	t.Parallel()
	good := func() Task {
		tk := testTask("t", 30*time.Second)
		return tk
	}
	if tk := good(); tk.Validate() != nil {
		t.Fatalf("a good task: %v", tk.Validate())
	}
	bad := -1.0
	cases := map[string]func(*Task){
		"name":                 func(t *Task) { t.Name = "" },
		"128":                  func(t *Task) { t.Name = strings.Repeat("a", 129) },
		"only letters":         func(t *Task) { t.Name = "a/b" },
		"cmd\" is required":    func(t *Task) { t.Cmd = "" },
		"/pkg.Service/Method":  func(t *Task) { t.Cmd = "pkg.Service/Method" },
		"not valid JSON":       func(t *Task) { t.Data = json.RawMessage(`{`) },
		"interval\" is requir": func(t *Task) { t.Interval = 0 },
		"between 1s and 24h":   func(t *Task) { t.Interval = 500 * time.Millisecond },
		"event\" is required":  func(t *Task) { t.Event = "" },
		"reserved":             func(t *Task) { t.Event = "courier:x" },
		"must name users":      func(t *Task) { t.To.Users = nil },
		"cannot be combined":   func(t *Task) { t.To.All = true },
		"1-256 bytes":          func(t *Task) { t.To.Users = []string{""} },
		"\"ttl\"":              func(t *Task) { t.TTL = &bad },
		"over the limit":       func(t *Task) { t.Data = json.RawMessage(`"` + strings.Repeat("x", MaxDataBytes) + `"`) },
	}
	for want, change := range cases {
		tk := good()
		change(&tk)
		err := tk.Validate()
		var e *errcode.Error
		if err == nil || !errors.As(err, &e) || !strings.Contains(e.Message, want) {
			t.Errorf("%s: Validate() = %v", want, err)
		}
	}
	tk := good()
	tk.Event = "connect"
	var e *errcode.Error
	if err := tk.Validate(); !errors.As(err, &e) || e.Code != errcode.ReservedEvent {
		t.Errorf("reserved event: %v; want code reserved_event", err)
	}
}

func TestAnswerHashCanonical(t *testing.T) {
	t.Parallel()
	same := []string{`{"a":1,"b":{"c":[1,2],"d":"x"}}`, "{ \"b\": {\"d\":\"x\", \"c\":[1, 2]},\n \"a\":1 }"}
	if answerHash(json.RawMessage(same[0])) != answerHash(json.RawMessage(same[1])) {
		t.Error("reordered keys hash differently")
	}
	for _, pair := range [][2]string{{`1`, `1.0`}, {`[1,2]`, `[2,1]`}, {`9007199254740993`, `9007199254740992`}} {
		if answerHash(json.RawMessage(pair[0])) == answerHash(json.RawMessage(pair[1])) {
			t.Errorf("%s and %s hash the same", pair[0], pair[1])
		}
	}
}
