module goqmail

go 1.26
