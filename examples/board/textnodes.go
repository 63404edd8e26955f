package main

import (
	"html"
	"strings"

	"github.com/vugu/vugu"
)

// vugu's DOM renderer does not diff: every render sends the whole tree,
// and an element with vg-content gets its innerHTML set again, which
// makes the browser parse HTML, drop the element's children and lay out
// new ones — for every project button, option and card field on every
// render (a card move's trace was dominated by ParseHTML and the layout
// it caused). Text set as a text node instead only updates that node's
// data, leaving the elements in place.

// textContentNodes turns the vg-content of each element under n that
// holds plain text (no markup) into a text child. An empty text still
// gets its (empty) child, so that the renderer clears the old text.
func textContentNodes(n *vugu.VGNode) {
	for ; n != nil; n = n.NextSibling {
		if n.InnerHTML != nil && n.FirstChild == nil && n.Type == vugu.ElementNode && !strings.ContainsRune(*n.InnerHTML, '<') {
			text := html.UnescapeString(*n.InnerHTML)
			n.InnerHTML = nil
			n.AppendChild(&vugu.VGNode{Type: vugu.TextNode, Data: text})
			continue
		}
		textContentNodes(n.FirstChild)
	}
}
