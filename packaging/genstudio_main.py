"""The bundle's entry point: `genstudio` as a frozen program (studio, CLI and training processes)."""

import multiprocessing

if __name__ == "__main__":
    # training processes of a multi-process run start this program again (spawn): hand them over first
    multiprocessing.freeze_support()
    from studio.entry import main

    main()
