module github.com/proglog/proglog/bindings/go

go 1.22
