module chitin.dev/skill

go 1.24
