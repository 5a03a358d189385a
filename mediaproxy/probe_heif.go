package mediaproxy

import (
	"encoding/binary"
	"math"
)

// HEIF (ISO/IEC 23008-12) is the container of both AVIF and HEIC: boxes
// (ISO/IEC 14496-12) whose meta box lists items (coded images, grids of
// them, Exif blocks) and their properties. probeHEIF reads that structure
// only, never a coded picture:
//
//	ftyp                         brands (Sniff)
//	meta (full box)
//	  pitm                       the primary item, the picture to show
//	  iinf → infe                each item's type (hvc1, av01, grid, Exif…)
//	  iloc                       where each item's data is (a grid's header)
//	  iref → dimg                a derived item's inputs (a grid's tiles)
//	  iprp → ipco                properties: ispe (size), irot, imir, clap…
//	       → ipma                which properties each item has
//	  idat                       item data kept inside meta
//
// The canvas is the primary item's ispe (limits weigh it), clap the part
// shown (libheif crops to it), irot becomes Probe.Orientation; the
// largest ispe of any item (a thumbnail, an alpha plane) is
// Probe.ItemPixels, weighed as a frame. Phones store a photo as a grid of
// 512×512 tiles; libheif decodes every tile into the grid's output canvas,
// so DecodePixels is that canvas plus every tile's extent (a 48 MP phone
// photo: about 100 MP), and a grid whose output exceeds its ispe is
// refused rather than trusted.

// maxHEIFItems bounds the items, properties and tile references a probe
// accepts (a phone photo has a few dozen), so a hostile file cannot make
// the probe build large tables.
const maxHEIFItems = 4096

// heifBox is one ISOBMFF box.
type heifBox struct {
	typ  string
	body []byte
}

// heifFile is what probeHEIF collects from meta. iinf, iloc and iref are
// kept as bodies and searched for the few items that matter.
type heifFile struct {
	f          Format
	file       []byte
	primary    uint32
	hasPrimary bool
	iinf       []byte
	iloc       []byte
	iref       []byte
	idat       []byte
	props      []heifBox           // ipco's children; property index i is props[i-1]
	assoc      map[uint32][]uint16 // ipma: item → property indices
	types      map[uint32]string   // iinf: item → type, read on first use
	// steps counts the iloc entries and extents walked: every one reads
	// at least one byte of iloc, so a probe's work is bounded by the
	// file's size (the tests check it).
	steps int
}

// eachBox calls fn for every box in d, in order.
func eachBox(d []byte, f Format, fn func(heifBox) error) error {
	for len(d) > 0 {
		if len(d) < 8 {
			return undecodable(f, "truncated box")
		}
		size, hdr := uint64(binary.BigEndian.Uint32(d)), uint64(8)
		switch size {
		case 1:
			if len(d) < 16 {
				return undecodable(f, "truncated box")
			}
			size, hdr = binary.BigEndian.Uint64(d[8:]), 16
		case 0:
			size = uint64(len(d))
		}
		if size < hdr || size > uint64(len(d)) {
			return undecodable(f, "box overruns file")
		}
		if err := fn(heifBox{typ: string(d[4:8]), body: d[hdr:size]}); err != nil {
			return err
		}
		d = d[size:]
	}
	return nil
}

// reader reads big-endian fields, remembering the first overrun.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) n(size int) uint64 {
	if size == 0 {
		return 0
	}
	if r.bad || len(r.b) < size {
		r.bad, r.b = true, nil
		return 0
	}
	var v uint64
	for _, c := range r.b[:size] {
		v = v<<8 | uint64(c)
	}
	r.b = r.b[size:]
	return v
}

func (r *reader) u8() uint64  { return r.n(1) }
func (r *reader) u16() uint64 { return r.n(2) }
func (r *reader) u32() uint64 { return r.n(4) }

// probeHEIF probes an AVIF or HEIC file (f says which).
func probeHEIF(b []byte, f Format) (Probe, error) {
	h := heifFile{f: f, file: b}
	return h.probe()
}

func (h *heifFile) probe() (Probe, error) {
	f := h.f
	seenMeta := false
	err := eachBox(h.file, f, func(x heifBox) error {
		if x.typ != "meta" {
			return nil // ftyp, mdat, free, moov…
		}
		if seenMeta {
			return undecodable(f, "two meta boxes")
		}
		seenMeta = true
		if len(x.body) < 4 {
			return undecodable(f, "bad meta box")
		}
		return eachBox(x.body[4:], f, h.metaChild)
	})
	if err != nil {
		return Probe{}, err
	}
	if !h.hasPrimary {
		return Probe{}, undecodable(f, "no primary image")
	}
	return h.probePrimary()
}

func (h *heifFile) metaChild(x heifBox) error {
	switch x.typ {
	case "pitm":
		r := reader{b: x.body}
		if r.u8() == 0 {
			r.n(3)
			h.primary = uint32(r.u16())
		} else {
			r.n(3)
			h.primary = uint32(r.u32())
		}
		if r.bad {
			return undecodable(h.f, "short pitm")
		}
		h.hasPrimary = true
	case "iinf":
		h.iinf = x.body
	case "iloc":
		h.iloc = x.body
	case "iref":
		h.iref = x.body
	case "idat":
		h.idat = x.body
	case "iprp":
		return eachBox(x.body, h.f, h.iprpChild)
	}
	return nil
}

func (h *heifFile) iprpChild(x heifBox) error {
	switch x.typ {
	case "ipco":
		return eachBox(x.body, h.f, func(p heifBox) error {
			if len(h.props) >= maxHEIFItems {
				return undecodable(h.f, "too many properties")
			}
			h.props = append(h.props, p)
			return nil
		})
	case "ipma":
		return h.parseIPMA(x.body)
	}
	return nil
}

// parseIPMA reads item property associations (there may be several ipma
// boxes; later ones add to earlier ones).
func (h *heifFile) parseIPMA(body []byte) error {
	r := reader{b: body}
	version := r.u8()
	flags := r.n(3)
	count := r.u32()
	if h.assoc == nil {
		h.assoc = map[uint32][]uint16{}
	}
	for i := uint64(0); i < count && !r.bad; i++ {
		if len(h.assoc) >= maxHEIFItems {
			return undecodable(h.f, "too many items")
		}
		var id uint32
		if version < 1 {
			id = uint32(r.u16())
		} else {
			id = uint32(r.u32())
		}
		n := int(r.u8())
		for range n {
			var idx uint16
			if flags&1 != 0 {
				idx = uint16(r.u16()) & 0x7fff
			} else {
				idx = uint16(r.u8()) & 0x7f
			}
			if !r.bad && idx != 0 {
				h.assoc[id] = append(h.assoc[id], idx)
			}
		}
	}
	if r.bad {
		return undecodable(h.f, "truncated ipma")
	}
	return nil
}

// itemType returns the four-character type of item id from iinf ("" when
// not listed). The first call reads every infe.
func (h *heifFile) itemType(id uint32) (string, error) {
	if h.types == nil {
		h.types = map[uint32]string{}
		if err := h.readTypes(); err != nil {
			return "", err
		}
	}
	return h.types[id], nil
}

func (h *heifFile) readTypes() error {
	if h.iinf == nil {
		return nil
	}
	r := reader{b: h.iinf}
	if r.u8() == 0 {
		r.n(3)
		r.u16()
	} else {
		r.n(3)
		r.u32()
	}
	if r.bad {
		return undecodable(h.f, "short iinf")
	}
	return eachBox(r.b, h.f, func(x heifBox) error {
		if x.typ != "infe" {
			return nil
		}
		if len(h.types) >= maxHEIFItems {
			return undecodable(h.f, "too many items")
		}
		e := reader{b: x.body}
		v := e.u8()
		e.n(3)
		var item uint32
		switch v {
		case 2:
			item = uint32(e.u16())
		case 3:
			item = uint32(e.u32())
		default:
			return nil // versions 0 and 1 carry no item type
		}
		e.u16() // protection index
		if e.bad || len(e.b) < 4 {
			return undecodable(h.f, "short infe")
		}
		if _, dup := h.types[item]; !dup {
			h.types[item] = string(e.b[:4])
		}
		return nil
	})
}

// property returns the first property of type typ associated with id.
func (h *heifFile) property(id uint32, typ string) ([]byte, bool) {
	for _, idx := range h.assoc[id] {
		if int(idx) <= len(h.props) && h.props[idx-1].typ == typ {
			return h.props[idx-1].body, true
		}
	}
	return nil, false
}

// extent returns item id's ispe width and height.
func (h *heifFile) extent(id uint32) (w, ht uint32, err error) {
	body, ok := h.property(id, "ispe")
	if !ok {
		return 0, 0, undecodable(h.f, "no image extent")
	}
	if len(body) < 12 {
		return 0, 0, undecodable(h.f, "short ispe")
	}
	w, ht = binary.BigEndian.Uint32(body[4:]), binary.BigEndian.Uint32(body[8:])
	if w == 0 || ht == 0 || w > 1<<30 || ht > 1<<30 {
		return 0, 0, undecodable(h.f, "bad image extent")
	}
	return w, ht, nil
}

// largestExtent is the largest ispe of any item, the primary's or not:
// a thumbnail (thmb), an alpha or depth plane (auxl), a tile. libheif
// and libvips may decode any of them (an alpha plane with the primary, a
// thumbnail when shrinking), so the limits weigh the largest as a frame,
// as the probe did before it knew items. Every ispe is counted, whether
// an item points at it or not.
func (h *heifFile) largestExtent() (int64, error) {
	var largest int64
	for _, p := range h.props {
		if p.typ != "ispe" {
			continue
		}
		if len(p.body) < 12 {
			return 0, undecodable(h.f, "short ispe")
		}
		w, ht := binary.BigEndian.Uint32(p.body[4:]), binary.BigEndian.Uint32(p.body[8:])
		if w > 1<<30 || ht > 1<<30 {
			return 0, undecodable(h.f, "bad image extent")
		}
		largest = max(largest, int64(w)*int64(ht))
	}
	return largest, nil
}

// irotOrientation maps irot's anticlockwise quarter turns to EXIF terms.
var irotOrientation = [4]int{1, 8, 3, 6}

func (h *heifFile) probePrimary() (Probe, error) {
	id := h.primary
	w, ht, err := h.extent(id)
	if err != nil {
		return Probe{}, err
	}
	p := Probe{Width: int(w), Height: int(ht), Frames: 1}
	largest, err := h.largestExtent()
	if err != nil {
		return p, err
	}
	if largest > p.Pixels() {
		p.ItemPixels = largest
	}
	if body, ok := h.property(id, "irot"); ok {
		if len(body) < 1 {
			return p, undecodable(h.f, "short irot")
		}
		p.Orientation = irotOrientation[body[0]&3]
	}
	if body, ok := h.property(id, "clap"); ok {
		cw, ch, err := clapSize(body, h.f)
		if err != nil {
			return p, err
		}
		p.CleanWidth, p.CleanHeight = min(p.Width, cw), min(p.Height, ch)
	}
	typ, err := h.itemType(id)
	if err != nil {
		return p, err
	}
	switch typ {
	case "grid", "iovl", "iden":
		decode, err := h.derivedArea(id, typ)
		if err != nil {
			return p, err
		}
		if decode > int64(w)*int64(ht) {
			p.DecodePixels = decode
		}
	}
	return p, nil
}

// clapSize is a clean aperture's width and height, rounded as libheif
// does.
func clapSize(body []byte, f Format) (int, int, error) {
	r := reader{b: body}
	wn, wd, hn, hd := r.u32(), r.u32(), r.u32(), r.u32()
	if r.bad || wd == 0 || hd == 0 {
		return 0, 0, undecodable(f, "bad clap")
	}
	cw, ch := math.Round(float64(wn)/float64(wd)), math.Round(float64(hn)/float64(hd))
	if cw < 1 || ch < 1 {
		return 0, 0, undecodable(f, "bad clap")
	}
	return int(min(cw, 1<<30)), int(min(ch, 1<<30)), nil
}

// derivedArea is what decoding a derived item (a grid, an overlay or an
// identity transform of other items) allocates: its output canvas plus
// every input item's extent. Inputs must be coded items: libheif would
// recurse into derived ones, and phones never write them.
func (h *heifFile) derivedArea(id uint32, typ string) (int64, error) {
	inputs, err := h.dimg(id)
	if err != nil {
		return 0, err
	}
	if len(inputs) == 0 {
		return 0, undecodable(h.f, typ+" without inputs")
	}
	var area int64
	if typ != "iden" {
		data, err := h.itemData(id)
		if err != nil {
			return 0, err
		}
		ow, oh, tiles, err := derivedHeader(data, typ, h.f)
		if err != nil {
			return 0, err
		}
		if typ == "grid" && tiles != len(inputs) {
			return 0, undecodable(h.f, "grid tile count mismatch")
		}
		if w, ht, err := h.extent(id); err != nil || ow > int64(w) || oh > int64(ht) {
			return 0, undecodable(h.f, typ+" output larger than its extent")
		}
		area = ow * oh
	}
	for _, in := range inputs {
		t, err := h.itemType(in)
		if err != nil {
			return 0, err
		}
		if t == "grid" || t == "iovl" || t == "iden" {
			return 0, undecodable(h.f, "nested derived images")
		}
		w, ht, err := h.extent(in)
		if err != nil {
			return 0, err
		}
		area += int64(w) * int64(ht)
		if area > 1<<50 {
			return 0, undecodable(h.f, "derived image too large")
		}
	}
	return area, nil
}

// derivedHeader reads a grid's or an overlay's output size (and a grid's
// tile count) from its item data.
func derivedHeader(d []byte, typ string, f Format) (w, h int64, tiles int, err error) {
	r := reader{b: d}
	if r.u8() != 0 {
		return 0, 0, 0, undecodable(f, typ+": unknown version")
	}
	flags := r.u8()
	switch typ {
	case "grid":
		tiles = int(r.u8()+1) * int(r.u8()+1)
	case "iovl":
		r.n(8) // fill colour
	}
	size := 2
	if flags&1 != 0 {
		size = 4
	}
	w, h = int64(r.n(size)), int64(r.n(size))
	if r.bad || w == 0 || h == 0 {
		return 0, 0, 0, undecodable(f, "short "+typ+" header")
	}
	return w, h, tiles, nil
}

// dimg returns the items id is derived from (iref's dimg references).
func (h *heifFile) dimg(id uint32) ([]uint32, error) {
	if h.iref == nil {
		return nil, nil
	}
	r := reader{b: h.iref}
	version := r.u8()
	r.n(3)
	if r.bad {
		return nil, undecodable(h.f, "short iref")
	}
	idSize := 2
	if version != 0 {
		idSize = 4
	}
	var out []uint32
	err := eachBox(r.b, h.f, func(x heifBox) error {
		e := reader{b: x.body}
		from := uint32(e.n(idSize))
		n := e.u16()
		if x.typ != "dimg" || from != id {
			return nil
		}
		if n > maxHEIFItems || len(out)+int(n) > maxHEIFItems {
			return undecodable(h.f, "too many tiles")
		}
		for range n {
			out = append(out, uint32(e.n(idSize)))
		}
		if e.bad {
			return undecodable(h.f, "truncated iref")
		}
		return nil
	})
	return out, err
}

// itemData returns the first extent of item id's data (a derived item's
// header is a few bytes in one extent), from the file or from idat.
func (h *heifFile) itemData(id uint32) ([]byte, error) {
	r := reader{b: h.iloc}
	version := r.u8()
	r.n(3)
	sizes := r.u16()
	offSize, lenSize := int(sizes>>12), int(sizes>>8&15)
	baseSize, idxSize := int(sizes>>4&15), 0
	if version == 1 || version == 2 {
		idxSize = int(sizes & 15)
	}
	var count uint64
	if version < 2 {
		count = r.u16()
	} else {
		count = r.u32()
	}
	for _, s := range []int{offSize, lenSize, baseSize, idxSize} {
		if s != 0 && s != 4 && s != 8 {
			return nil, undecodable(h.f, "bad iloc field size")
		}
	}
	if r.bad || version > 2 {
		return nil, undecodable(h.f, "bad iloc")
	}
	// An extent with no fields reads nothing: 65,535 of them per 6-byte
	// entry would cost a walk of billions for a small file. With fields,
	// each extent reads at least 4 bytes, so walking them is bounded by
	// the box's size; so is the whole walk (steps), whatever the entries.
	perExtent := idxSize + offSize + lenSize
	for i := uint64(0); i < count && !r.bad; i++ {
		var item uint32
		if version < 2 {
			item = uint32(r.u16())
		} else {
			item = uint32(r.u32())
		}
		method := uint64(0)
		if version == 1 || version == 2 {
			method = r.u16() & 15
		}
		ref := r.u16()
		base := r.n(baseSize)
		extents := r.u16()
		if perExtent == 0 && extents > 1 {
			return nil, undecodable(h.f, "iloc extents without offsets or lengths")
		}
		if h.steps+1+int(extents) > len(h.iloc) {
			return nil, undecodable(h.f, "too many iloc extents")
		}
		h.steps += 1 + int(extents)
		var off, length uint64
		for e := uint64(0); e < extents && !r.bad; e++ {
			r.n(idxSize)
			o, l := r.n(offSize), r.n(lenSize)
			if e == 0 {
				off, length = o, l
			}
		}
		if r.bad || item != id {
			continue
		}
		if extents == 0 || ref != 0 {
			return nil, undecodable(h.f, "item data not in this file")
		}
		var src []byte
		switch method {
		case 0:
			src = h.file
		case 1:
			src = h.idat
		default:
			return nil, undecodable(h.f, "unsupported item construction")
		}
		start := base + off
		if start < base || start > uint64(len(src)) {
			return nil, undecodable(h.f, "item data outside the file")
		}
		if length == 0 {
			length = uint64(len(src)) - start
		}
		if length > uint64(len(src))-start {
			return nil, undecodable(h.f, "item data outside the file")
		}
		return src[start : start+length], nil
	}
	if r.bad {
		return nil, undecodable(h.f, "truncated iloc")
	}
	return nil, undecodable(h.f, "no item data")
}
