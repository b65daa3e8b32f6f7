# MiB/s of an SFTP get against the round-trip time, one line per client/server pair and one for a plain TCP
# stream; scripts/bench (rtt_sweep) runs it with data, out, linkrate and title set (gnuplot -e).
set terminal svg size 760,460 dynamic noenhanced font 'Helvetica,13' background rgb 'white'
set output out
set title title
set xlabel 'round-trip time (ms)'
set ylabel 'MiB/s'
set key outside bottom center horizontal maxrows 3 spacing 1.2
set grid
set xrange [0:*]
set yrange [0:linkrate * 1.1]
set xtics 0, 25
set style line 1 lc rgb '#7f7f7f' lw 2 pt 7 ps 0.8
set style line 2 lc rgb '#1f77b4' lw 2 pt 5 ps 0.8
set style line 3 lc rgb '#ff7f0e' lw 2 pt 9 ps 0.9
set style line 4 lc rgb '#2ca02c' lw 2.5 pt 13 ps 0.9
set style line 5 lc rgb '#bbbbbb' lw 1.5 dt 2 pt 1 ps 0.8
plot linkrate with lines lc rgb '#d62728' dt 3 lw 1.5 title sprintf('link rate (%.0f MiB/s)', linkrate), \
     for [i=2:6] data using 1:i with linespoints ls (i - 1) title columnheader(i)
