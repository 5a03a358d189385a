package mls

import "math/bits"

// Array-based tree math (RFC 9420 §4.1, Appendix C). Node x is a leaf when
// x is even; leaf i is node 2i. Trees always hold a power-of-two number of
// leaves (RFC 9420 §7.7, §7.8).

func level(x uint32) uint32 { return uint32(bits.TrailingZeros32(^x)) }

func isLeaf(x uint32) bool { return x&1 == 0 }

func leafNode(leaf uint32) uint32 { return 2 * leaf }

func nodeLeaf(x uint32) uint32 { return x / 2 }

// nodeWidth is the number of nodes in a tree with n leaves.
func nodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// root is the root node of a tree with n leaves (n a power of two).
func root(n uint32) uint32 {
	w := nodeWidth(n)
	return (uint32(1) << (31 - bits.LeadingZeros32(w))) - 1
}

func left(x uint32) uint32 {
	k := level(x)
	return x ^ (1 << (k - 1))
}

func right(x uint32) uint32 {
	k := level(x)
	return x ^ (3 << (k - 1))
}

// parent of x (x must not be the root).
func parent(x uint32) uint32 {
	k := level(x)
	b := (x >> (k + 1)) & 1
	return (x | (1 << k)) ^ (b << (k + 1))
}

// sibling of x (x must not be the root).
func sibling(x uint32) uint32 {
	p := parent(x)
	if x < p {
		return right(p)
	}
	return left(p)
}

// directPath lists the ancestors of x up to and including the root of a
// tree with n leaves, excluding x itself.
func directPath(x, n uint32) []uint32 {
	r := root(n)
	var out []uint32
	for x != r {
		x = parent(x)
		out = append(out, x)
	}
	return out
}

// copath lists the siblings of x and of its ancestors below the root.
func copath(x, n uint32) []uint32 {
	r := root(n)
	var out []uint32
	for x != r {
		out = append(out, sibling(x))
		x = parent(x)
	}
	return out
}

// isAncestor reports whether a is a (non-strict) ancestor of x.
func isAncestor(a, x uint32) bool {
	k := level(a)
	lo := a - (1<<k - 1)
	hi := a + (1<<k - 1)
	return x >= lo && x <= hi
}

// commonAncestor is the lowest common ancestor of nodes x and y.
func commonAncestor(x, y uint32) uint32 {
	lx, ly := level(x)+1, level(y)+1
	if lx <= ly && x>>ly == y>>ly {
		return y
	}
	if ly <= lx && x>>lx == y>>lx {
		return x
	}
	xn, yn := x, y
	k := uint32(0)
	for xn != yn {
		xn >>= 1
		yn >>= 1
		k++
	}
	return (xn << k) + (1 << (k - 1)) - 1
}
