//! Plots render to SVG and PNG with their titles, data and sizes.

use monologue::plot::{Plot, Series};

fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("one frame");
    (info.width, info.height, buf)
}

#[test]
fn a_line_plot_shows_its_title_labels_and_series() {
    let xs: Vec<f64> = (0..50).map(f64::from).collect();
    let train = Series {
        name: "train".into(),
        xs: xs.clone(),
        ys: xs.iter().map(|x| 4.0 * (-x / 20.0).exp()).collect(),
    };
    let val = Series {
        name: "validation".into(),
        xs: xs.clone(),
        ys: xs.iter().map(|x| 4.2 * (-x / 25.0).exp()).collect(),
    };
    let plot = Plot::line(vec![train, val])
        .unwrap()
        .with_title("Loss curve")
        .with_labels("step", "loss");
    let svg = plot.to_svg().unwrap();
    for text in ["Loss curve", "step", "loss", "train", "validation"] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    assert!(svg.matches("<polyline").count() >= 2, "two series drawn");
    let (w, h, pixels) = decode_png(&plot.to_png().unwrap());
    assert_eq!((w, h), (720, 420));
    // Not a blank canvas: some pixels are neither white nor grey.
    let coloured = pixels
        .chunks(3)
        .filter(|p| !(p[0] == p[1] && p[1] == p[2]))
        .count();
    assert!(coloured > 200, "{coloured} coloured pixels");
}

#[test]
fn bar_and_heatmap_plots_draw_one_shape_per_value() {
    let bar = Plot::bar(
        vec!["Paris".into(), "Lyon".into(), "Nice".into()],
        vec![0.7, 0.2, 0.1],
    )
    .unwrap();
    let svg = bar.to_svg().unwrap();
    assert!(svg.contains("Paris") && svg.contains("Nice"));
    let values = vec![vec![1.0, 0.0, 0.0], vec![0.5, 0.5, 0.0]];
    let labels: Vec<String> = ["The", " cat", " sat"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let heat = Plot::heatmap(values, labels[..2].to_vec(), labels.clone())
        .unwrap()
        .with_size(300, 200);
    let svg = heat.to_svg().unwrap();
    assert!(svg.matches("<rect").count() >= 6, "one rectangle per cell");
    assert!(svg.contains("cat"));
    assert_eq!(decode_png(&heat.to_png().unwrap()).0, 300);
}

#[test]
fn bad_plots_are_refused_with_a_reason() {
    let err = Plot::line(vec![Series {
        name: "x".into(),
        xs: vec![1.0],
        ys: vec![],
    }])
    .unwrap_err();
    assert!(
        err.to_string().contains("1 x values but 0 y values"),
        "{err}"
    );
    assert!(Plot::bar(vec!["a".into()], vec![]).is_err());
    assert!(Plot::heatmap(vec![vec![1.0], vec![1.0, 2.0]], vec![], vec![]).is_err());
    assert!(Plot::heatmap(vec![vec![1.0]], vec!["a".into(), "b".into()], vec![]).is_err());
    let plot = Plot::bar(vec!["a".into()], vec![1.0]).unwrap();
    let err = plot
        .save(std::env::temp_dir().join("plot.gif"))
        .unwrap_err();
    assert!(err.to_string().contains(".svg or .png"), "{err}");
}
