package main

import (
	"testing"

	"github.com/vugu/vugu"
)

func TestTextContentNodes(t *testing.T) {
	root := &vugu.VGNode{Type: vugu.ElementNode, Data: "div"}
	title := &vugu.VGNode{Type: vugu.ElementNode, Data: "h3"}
	title.SetInnerHTML("Fish & <chips>")
	empty := &vugu.VGNode{Type: vugu.ElementNode, Data: "span"}
	empty.SetInnerHTML("")
	markup := &vugu.VGNode{Type: vugu.ElementNode, Data: "p"}
	markup.SetInnerHTML(vugu.HTML("<b>bold</b>"))
	root.AppendChild(title)
	root.AppendChild(empty)
	root.AppendChild(markup)

	textContentNodes(root)

	if title.InnerHTML != nil || title.FirstChild == nil || title.FirstChild.Type != vugu.TextNode || title.FirstChild.Data != "Fish & <chips>" {
		t.Fatalf("escaped text: InnerHTML %v, child %#v", title.InnerHTML, title.FirstChild)
	}
	if empty.InnerHTML != nil || empty.FirstChild == nil || empty.FirstChild.Data != "" {
		t.Fatalf("empty text must become an empty text node (the renderer then clears the old one): %#v", empty.FirstChild)
	}
	if markup.InnerHTML == nil || *markup.InnerHTML != "<b>bold</b>" || markup.FirstChild != nil {
		t.Fatalf("markup must stay innerHTML: %v", markup.InnerHTML)
	}
}
