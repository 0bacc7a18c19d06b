package train

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
)

// A checkpoint file is a tar archive (inspect it with `tar tvf`) of three
// members, in this order:
//
//	checkpoint.json  the header: format name and version, position, seed,
//	                 classes, settings, history, and for each other member
//	                 its size and SHA-256
//	model.onnx       the model with its current weights (standard ONNX)
//	optimizer.bin    the optimizer's buffers as little-endian float32, in
//	                 the order the header lists them
//
// LoadCheckpoint checks the format, version, sizes and checksums, so a
// truncated or corrupted file is refused with an error saying so.
const (
	checkpointFormat  = "runinfer-checkpoint"
	checkpointVersion = 1
	maxHeaderBytes    = 64 << 20
)

// Checkpoint is the state of a training run: enough to resume it exactly.
type Checkpoint struct {
	// Model is the model with its current weights (and running
	// statistics).
	Model *ir.Model
	// Optimizer is the optimizer's state.
	Optimizer *OptimizerState
	// Epoch is the current epoch (from 0) and Batch the number of its
	// batches done: (E, 0) is the start of epoch E.
	Epoch, Batch int
	// Step is the number of optimizer steps taken (the schedule's
	// position).
	Step int64
	// Seed is the run's random seed.
	Seed uint64
	// Classes are the class names, in index order.
	Classes []string
	// Settings are the run's options as the caller serialises them.
	Settings json.RawMessage
	// History has one entry per finished epoch.
	History []EpochStats
}

type ckptHeader struct {
	Format    string          `json:"format"`
	Version   int             `json:"version"`
	Created   string          `json:"created,omitempty"`
	Epoch     int             `json:"epoch"`
	Batch     int             `json:"batch"`
	Step      int64           `json:"step"`
	Seed      uint64          `json:"seed"`
	Classes   []string        `json:"classes"`
	Settings  json.RawMessage `json:"settings,omitempty"`
	History   []EpochStats    `json:"history,omitempty"`
	Model     ckptMember      `json:"model"`
	Optimizer ckptOptimizer   `json:"optimizer"`
}

type ckptMember struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type ckptOptimizer struct {
	ckptMember
	Kind   string          `json:"kind"`
	Params []ckptParamInfo `json:"params"`
}

type ckptParamInfo struct {
	Name    string `json:"name"`
	Step    int64  `json:"step"`
	Buffers int    `json:"buffers"`
	Len     int    `json:"len"`
}

func sum256(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// EncodeCheckpoint serialises c (see the format above).
func EncodeCheckpoint(c *Checkpoint) ([]byte, error) {
	if c == nil || c.Model == nil || c.Optimizer == nil {
		return nil, errors.New("train: checkpoint without a model or optimizer state")
	}
	model, err := onnx.Encode(c.Model)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint model: %w", err)
	}
	var opt bytes.Buffer
	h := ckptHeader{
		Format: checkpointFormat, Version: checkpointVersion, Created: time.Now().UTC().Format(time.RFC3339),
		Epoch: c.Epoch, Batch: c.Batch, Step: c.Step, Seed: c.Seed, Classes: c.Classes, Settings: c.Settings, History: c.History,
		Optimizer: ckptOptimizer{Kind: c.Optimizer.Kind},
	}
	for _, name := range c.Optimizer.Names() {
		p := c.Optimizer.Params[name]
		info := ckptParamInfo{Name: name, Step: p.Step, Buffers: len(p.Buffers)}
		if len(p.Buffers) > 0 {
			info.Len = len(p.Buffers[0])
		}
		for _, b := range p.Buffers {
			if len(b) != info.Len {
				return nil, fmt.Errorf("train: optimizer state of %q has buffers of different lengths", name)
			}
			if err := binary.Write(&opt, binary.LittleEndian, b); err != nil {
				return nil, err
			}
		}
		h.Optimizer.Params = append(h.Optimizer.Params, info)
	}
	h.Model = ckptMember{Name: "model.onnx", Size: int64(len(model)), SHA256: sum256(model)}
	h.Optimizer.ckptMember = ckptMember{Name: "optimizer.bin", Size: int64(opt.Len()), SHA256: sum256(opt.Bytes())}
	header, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint header: %w", err)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, m := range []struct {
		name string
		data []byte
	}{{"checkpoint.json", header}, {"model.onnx", model}, {"optimizer.bin", opt.Bytes()}} {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(m.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// SaveCheckpoint writes c to path atomically (see WriteFileAtomic).
func SaveCheckpoint(path string, c *Checkpoint) error {
	data, err := EncodeCheckpoint(c)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}

// WriteFileAtomic writes data to a temporary file in path's folder, flushes
// it to disk, and renames it over path, so that path holds either its old
// content or all of data, whatever happens (a crash, a full disk, Ctrl-C).
func WriteFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	// Make the rename itself durable (best effort: not every system can
	// sync a directory).
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LoadCheckpoint reads a checkpoint file written by SaveCheckpoint.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("train: checkpoint %s is a directory", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint: %w", err)
	}
	defer f.Close()
	c, err := DecodeCheckpoint(f)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return c, nil
}

// corrupt wraps checkpoint format errors.
func corrupt(format string, a ...any) error {
	return fmt.Errorf("train: not a valid runinfer checkpoint: "+format, a...)
}

// readMember reads the next tar member, which must be called name and be
// exactly size bytes (size < 0: at most -size bytes).
func readMember(tr *tar.Reader, name string, size int64) ([]byte, error) {
	hd, err := tr.Next()
	if err == io.EOF {
		return nil, corrupt("%s is missing (truncated file?)", name)
	}
	if err != nil {
		return nil, corrupt("reading %s: %v (truncated or damaged file?)", name, err)
	}
	if hd.Name != name {
		return nil, corrupt("found member %q where %s was expected", hd.Name, name)
	}
	if size >= 0 && hd.Size != size {
		return nil, corrupt("%s is %d bytes, the header says %d", name, hd.Size, size)
	}
	if size < 0 && (hd.Size > -size || hd.Size < 0) {
		return nil, corrupt("%s is %d bytes, above the limit of %d", name, hd.Size, -size)
	}
	data := make([]byte, hd.Size)
	if _, err := io.ReadFull(tr, data); err != nil {
		return nil, corrupt("%s is cut short: %v (truncated file?)", name, err)
	}
	return data, nil
}

// DecodeCheckpoint reads a checkpoint from r, validating it.
func DecodeCheckpoint(r io.Reader) (*Checkpoint, error) {
	tr := tar.NewReader(r)
	raw, err := readMember(tr, "checkpoint.json", -maxHeaderBytes)
	if err != nil {
		return nil, err
	}
	var h ckptHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, corrupt("header: %v", err)
	}
	if h.Format != checkpointFormat {
		return nil, corrupt("header format %q, want %q", h.Format, checkpointFormat)
	}
	if h.Version != checkpointVersion {
		return nil, fmt.Errorf("train: checkpoint format version %d; this runinfer reads version %d", h.Version, checkpointVersion)
	}
	if h.Epoch < 0 || h.Batch < 0 || h.Step < 0 {
		return nil, corrupt("negative position (epoch %d, batch %d, step %d)", h.Epoch, h.Batch, h.Step)
	}
	if h.Model.Size < 0 || h.Model.Size > onnx.MaxModelBytes {
		return nil, corrupt("model size %d", h.Model.Size)
	}
	var want int64
	for _, p := range h.Optimizer.Params {
		if p.Buffers < 0 || p.Buffers > 2 || p.Len < 0 || p.Len > ir.MaxElements || p.Step < 0 {
			return nil, corrupt("optimizer entry %+v", p)
		}
		want += int64(p.Buffers) * int64(p.Len) * 4
		if want > math.MaxInt32*8 {
			return nil, corrupt("optimizer state too large")
		}
	}
	if h.Optimizer.Size != want {
		return nil, corrupt("optimizer.bin size %d does not match its %d entries (%d bytes)", h.Optimizer.Size, len(h.Optimizer.Params), want)
	}
	model, err := readMember(tr, h.Model.Name, h.Model.Size)
	if err != nil {
		return nil, err
	}
	if sum256(model) != h.Model.SHA256 {
		return nil, corrupt("%s checksum mismatch (the file is damaged)", h.Model.Name)
	}
	opt, err := readMember(tr, h.Optimizer.Name, h.Optimizer.Size)
	if err != nil {
		return nil, err
	}
	if sum256(opt) != h.Optimizer.SHA256 {
		return nil, corrupt("%s checksum mismatch (the file is damaged)", h.Optimizer.Name)
	}
	if hd, err := tr.Next(); err == nil {
		return nil, corrupt("unexpected member %q after %s", hd.Name, h.Optimizer.Name)
	}
	m, err := onnx.DecodeOptions{Name: "checkpoint model"}.Decode(model)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint: %w", err)
	}
	c := &Checkpoint{
		Model: m, Epoch: h.Epoch, Batch: h.Batch, Step: h.Step, Seed: h.Seed, Classes: h.Classes,
		Settings: h.Settings, History: h.History,
		Optimizer: &OptimizerState{Kind: h.Optimizer.Kind, Params: map[string]*ParamState{}},
	}
	off := 0
	for _, p := range h.Optimizer.Params {
		if _, dup := c.Optimizer.Params[p.Name]; dup {
			return nil, corrupt("optimizer state of %q given twice", p.Name)
		}
		ps := &ParamState{Step: p.Step}
		for range p.Buffers {
			b := make([]float32, p.Len)
			for i := range b {
				b[i] = math.Float32frombits(binary.LittleEndian.Uint32(opt[off:]))
				off += 4
			}
			ps.Buffers = append(ps.Buffers, b)
		}
		c.Optimizer.Params[p.Name] = ps
	}
	return c, nil
}
