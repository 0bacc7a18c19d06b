package train

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleCheckpoint(t *testing.T) *Checkpoint {
	b := newGraph(t, "x", "N", 4)
	b.node("Gemm", []string{"x", b.init("w", []int{4, 3}, nil), b.init("b", []int{3}, nil)}, "out")
	m := b.model("out", "N", 3)
	return &Checkpoint{
		Model: m,
		Optimizer: &OptimizerState{Kind: "adamw", Params: map[string]*ParamState{
			"w": {Step: 7, Buffers: [][]float32{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {0.5, -1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1e-30}}},
			"b": {Step: 7, Buffers: [][]float32{{-1, 0, 1}, {1, 2, 3}}},
			"z": {},
		}},
		Epoch: 3, Batch: 2, Step: 44, Seed: 1 << 60, Classes: []string{"cat", "dog", "ünï"},
		Settings: json.RawMessage(`{"lr":0.01}`),
		History:  []EpochStats{{Epoch: 0, TrainLoss: 1.5, ValAccuracy: 0.5, ValImages: 4}},
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := sampleCheckpoint(t)
	path := filepath.Join(t.TempDir(), "run.ckpt")
	if err := SaveCheckpoint(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 3 || got.Batch != 2 || got.Step != 44 || got.Seed != 1<<60 || !reflect.DeepEqual(got.Classes, c.Classes) ||
		string(got.Settings) != `{"lr":0.01}` || !reflect.DeepEqual(got.History, c.History) {
		t.Errorf("position/settings: %+v", got)
	}
	if !reflect.DeepEqual(got.Optimizer, c.Optimizer) {
		t.Errorf("optimizer state %+v, want %+v", got.Optimizer, c.Optimizer)
	}
	for _, name := range []string{"w", "b"} {
		if !reflect.DeepEqual(got.Model.Graph.Initializers[name].F32(), c.Model.Graph.Initializers[name].F32()) {
			t.Errorf("initializer %s changed", name)
		}
	}
	if got.Model.Metadata["other"] != "kept" {
		t.Errorf("model metadata %v", got.Model.Metadata)
	}
	// The optimizer resumes from it.
	o := NewAdamW()
	if err := o.SetState(got.Optimizer); err != nil {
		t.Fatal(err)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after saving, want 1", len(entries))
	}
	// It is a plain tar archive with the documented members.
	data, _ := os.ReadFile(path)
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if !reflect.DeepEqual(names, []string{"checkpoint.json", "model.onnx", "optimizer.bin"}) {
		t.Errorf("members %v", names)
	}
}

func TestCheckpointRejectsDamage(t *testing.T) {
	c := sampleCheckpoint(t)
	data, err := EncodeCheckpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	load := func(b []byte) error {
		p := filepath.Join(dir, "c.ckpt")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCheckpoint(p)
		return err
	}
	// Every truncation that cuts into the members is refused (the tar
	// trailer's zero blocks after them carry nothing).
	end := memberOffset(t, data, "optimizer.bin") + 12*2*4 + 3*2*4
	for n := 0; n < end; n += max(1, end/97) {
		err := load(data[:n])
		if err == nil || !strings.Contains(err.Error(), "checkpoint") {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(data), err)
		}
	}
	if err := load(data[:end-1]); err == nil {
		t.Error("cut one byte short of the last member: no error")
	}
	// A flipped byte inside the model or the optimizer state is caught by
	// the checksums.
	for _, member := range []string{"model.onnx", "optimizer.bin"} {
		off := memberOffset(t, data, member)
		bad := bytes.Clone(data)
		bad[off+5] ^= 0x40
		if err := load(bad); err == nil || !strings.Contains(err.Error(), member+" checksum mismatch") {
			t.Errorf("damaged %s: %v", member, err)
		}
	}
	if err := load([]byte("not a tar file at all, just some text that goes on for a while.......")); err == nil || !strings.Contains(err.Error(), "not a valid runinfer checkpoint") {
		t.Errorf("garbage: %v", err)
	}
	// A header of another version or format.
	for _, c := range []struct{ from, to, want string }{
		{`"version":1`, `"version":9`, "version 9"},
		{`"format":"runinfer-checkpoint"`, `"format":"something-else"`, "format"},
		{`"epoch":3`, `"epoch":-3`, "negative"},
	} {
		bad := rewriteHeader(t, data, c.from, c.to)
		if err := load(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("header %s: %v", c.to, err)
		}
	}
	if _, err := LoadCheckpoint(dir); err == nil {
		t.Error("a directory loaded as a checkpoint")
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file loaded")
	}
	if err := SaveCheckpoint(filepath.Join(dir, "no", "such", "dir", "c"), c); err == nil {
		t.Error("saving into a missing folder: no error")
	}
	if _, err := EncodeCheckpoint(&Checkpoint{}); err == nil {
		t.Error("encoding an empty checkpoint: no error")
	}
}

// memberOffset returns the offset of a tar member's data.
func memberOffset(t *testing.T, data []byte, name string) int {
	t.Helper()
	off := 0
	for off+512 <= len(data) {
		h, err := tar.NewReader(bytes.NewReader(data[off:])).Next()
		if err != nil {
			t.Fatal(err)
		}
		// Plain USTAR: a 512-byte header, then the data in whole blocks.
		if h.Name == name {
			return off + 512
		}
		off += 512 + int((h.Size+511)/512*512)
	}
	t.Fatalf("no member %s", name)
	return 0
}

// rewriteHeader re-encodes a checkpoint with its JSON header edited.
func rewriteHeader(t *testing.T, data []byte, from, to string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(tr); err != nil {
			t.Fatal(err)
		}
		body := b.Bytes()
		if h.Name == "checkpoint.json" {
			if !bytes.Contains(body, []byte(from)) {
				t.Fatalf("header lacks %s:\n%s", from, body)
			}
			body = bytes.Replace(body, []byte(from), []byte(to), 1)
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

func TestWriteFileAtomicKeepsTheOldFileOnFailure(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFileAtomic(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Errorf("content %q", b)
	}
	// Renaming over a directory fails: the directory and no temporary
	// file remain.
	d := filepath.Join(dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(d, []byte("x")); err == nil {
		t.Error("writing over a non-empty directory: no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d entries left, want 2 (no temporary file)", len(entries))
	}
}
