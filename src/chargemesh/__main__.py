from chargemesh.cli import main

main()
