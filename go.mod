module github.com/hearthdb/hearth

go 1.26.8

require (
	github.com/coder/websocket v1.8.14
	github.com/hack-pad/safejs v0.1.0
	github.com/ncruces/go-sqlite3 v0.36.0
	github.com/vugu/vjson v0.0.0-20200505061711-f9cbed27d3d9
	github.com/vugu/vugu v0.4.0
)

require (
	github.com/ncruces/go-sqlite3-wasm/v6 v6.4.35401 // indirect
	github.com/ncruces/julianday v1.0.0 // indirect
	github.com/vugu/html v0.0.0-20190914200101-c62dc20b8289 // indirect
	github.com/vugu/xxhash v0.0.0-20191111030615-ed24d0179019 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	lukechampine.com/adiantum v1.1.1 // indirect
)

tool github.com/vugu/vugu/cmd/vugugen
